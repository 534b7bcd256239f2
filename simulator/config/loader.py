"""Load a hardware config: read YAML, resolve `preset:` chains, apply --set overrides, validate."""

from pathlib import Path

from simulator.config.presets import preset_names, preset_path
from simulator.config.schema import ChipConfig
from simulator.config.validation import validate
from simulator.config.yamlio import deep_merge, parse_override, read_mapping, set_path
from simulator.errors import ConfigError


def resolve_hardware_path(spec: str) -> Path:
    """A file path; else a bundled preset named `spec` or, for a missing `configs/NAME.yaml`, `NAME`.

    The fallback lets the README's `configs/h100.yaml` work after a non-editable install too.
    """
    path = Path(spec)
    if path.is_file():
        return path
    in_configs = path.parent.name == "configs" and path.suffix in (".yaml", ".yml")
    found = preset_path(spec) or (preset_path(path.stem) if in_configs else None)
    if found is None:
        raise ConfigError(spec, "", spec, "no such file or preset; presets: " + ", ".join(preset_names()))
    return found


def raw_hardware(path: Path, provenance: dict, chain: tuple = ()) -> dict:
    """The merged raw mapping of a hardware file with its preset ancestry."""
    data = read_mapping(path)
    name = data.pop("preset", None)
    if name is None:
        return deep_merge({}, data, str(path), provenance)
    base_path = preset_path(str(name))
    if base_path is None:
        raise ConfigError(str(path), "preset", name, "no such preset; presets: " + ", ".join(preset_names()))
    if base_path.resolve() in chain:
        raise ConfigError(str(path), "preset", name, "presets refer to each other in a cycle")
    base = raw_hardware(base_path, provenance, chain + (Path(path).resolve(),))
    return deep_merge(base, data, str(path), provenance)


def load_chip(spec: str | Path, overrides: list[str] = ()) -> ChipConfig:
    """The validated chip for a file or preset name, with `--set path=value` overrides applied."""
    path = resolve_hardware_path(str(spec))
    provenance: dict = {}
    data = raw_hardware(path, provenance)
    for text in overrides:
        keys, value = parse_override(text)
        set_path(data, keys, value, f"--set {text}", provenance)
    return validate(ChipConfig, data, str(path), provenance)
