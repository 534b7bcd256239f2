"""Where bundled presets live: configs/ in a checkout, shipped as package data `simulator.presets`."""

from importlib import resources
from pathlib import Path


def preset_dir() -> Path:
    return Path(str(resources.files("simulator.presets")))


def preset_names() -> list[str]:
    return sorted(p.stem for p in preset_dir().glob("*.yaml"))


def preset_path(name: str) -> Path | None:
    path = preset_dir() / f"{name}.yaml"
    return path if name and "/" not in name and path.is_file() else None
