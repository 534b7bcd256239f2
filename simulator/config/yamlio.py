"""YAML reading and dotted-path overrides shared by every config-like file (hardware, workloads)."""

import copy
from functools import lru_cache
from pathlib import Path

import yaml

from simulator.errors import ConfigError


def read_mapping(path: Path) -> dict:
    """The top-level mapping of a YAML file, or a one-line ConfigError. Parsed files are kept (keyed by
    path, size and modification time) because a sweep loads the same preset for every point; callers get
    their own copy to change."""
    try:
        stat = Path(path).stat()
    except OSError:
        return copy.deepcopy(_parse(Path(path)))  # reports the missing or unreadable file
    data, shared = _parsed(str(path), str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    return copy.deepcopy(data) if shared else plain_copy(data)


@lru_cache(maxsize=256)
def _parsed(shown: str, resolved: str, size: int, mtime_ns: int) -> tuple[dict, bool]:
    """`shown` is the path as given, for error messages; `resolved`, size and time say it is the same file.
    Also whether the data holds one object in two places (a YAML alias), which only deepcopy copies alike."""
    data = _parse(Path(shown))
    return data, has_shared(data)


_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def plain_copy(node):
    """copy.deepcopy of parsed YAML (dicts, lists, scalars) where no object sits in two places; several times
    faster, and a sweep copies its base preset for every point."""
    kind = type(node)
    if kind is dict:
        return {key: plain_copy(value) for key, value in node.items()}
    if kind is list:
        return [plain_copy(value) for value in node]
    return node if kind in _IMMUTABLE else copy.deepcopy(node)


def has_shared(node, seen: set | None = None) -> bool:
    """Whether one object sits in two places of `node` (YAML aliases make that), where plain_copy would copy
    it twice and deepcopy once."""
    seen = set() if seen is None else seen
    if type(node) in _IMMUTABLE:
        return False
    if id(node) in seen:
        return True
    seen.add(id(node))
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list | tuple | set) else ()
    return any(has_shared(child, seen) for child in children)


def _parse(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(str(path), "", str(path), "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", str(path), f"cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(str(path), "", where, f"not valid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", type(data).__name__, "the file must hold a mapping of fields")
    return data


def parse_override(text: str) -> tuple[list[str], object]:
    """`core.mxu.rows=256` → (['core', 'mxu', 'rows'], 256); the value is read as YAML."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", "", text, "overrides are written path.to.field=value, e.g. core.mxu.rows=256")
    value = _override_value(raw)
    return key.split("."), value if type(value) in _IMMUTABLE else copy.deepcopy(value)  # the caller's own copy


@lru_cache(maxsize=4096)
def _override_value(raw: str):
    """The value of an override as YAML reads it. Kept by text: a sweep sets each axis value at many points
    (`"1.2 TB/s"`, `64`), and YAML takes about 50 µs a value."""
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        return raw.strip()


def set_path(data: dict, path: list[str], value, source: str, provenance: dict | None = None) -> None:
    """Set data[a][b][c] = value (a number indexes a list), creating missing mappings on the way."""
    node = data
    for i, part in enumerate(path):
        last = i == len(path) - 1
        where = ".".join(path[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(source, where, part, f"there are {len(node)} items, numbered 0 to {len(node) - 1}")
            key = int(part)
        elif isinstance(node, dict):
            key = part
        else:
            raise ConfigError(source, ".".join(path[:i]), node,
                              f"is a value, not a group of fields, so {'.'.join(path)} cannot be set")
        if last:
            node[key] = value
        else:
            if isinstance(node, dict) and node.get(key) is None:
                node[key] = {}
                if provenance is not None:
                    provenance[tuple(path[: i + 1])] = source
            node = node[key]
    if provenance is not None:
        provenance.pop(tuple(path), None)  # re-insert so the latest writer comes last
        provenance[tuple(path)] = source


def deep_merge(base: dict, top: dict, source: str, provenance: dict, prefix: tuple = ()) -> dict:
    """`top` over `base`, recursively for mappings; records which file each field came from."""
    merged = dict(base)
    for key, value in top.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value, source, provenance, path)
        else:
            merged[key] = value
            provenance.pop(path, None)  # re-insert so the latest writer comes last
            provenance[path] = source
            _mark(value, source, provenance, path)
    return merged


def _mark(value, source, provenance, path):
    if isinstance(value, dict):
        for key, child in value.items():
            provenance.pop(path + (key,), None)
            provenance[path + (key,)] = source
            _mark(child, source, provenance, path + (key,))


def source_of(provenance: dict, path: tuple, default: str) -> str:
    """Who wrote `path`: the last writer of it or of anything inside it (so an override of one entry is
    blamed for a check on its whole mapping), else the writer of its longest known prefix."""
    inside = [source for key, source in provenance.items() if key[: len(path)] == path]
    if inside:
        return inside[-1]
    for end in range(len(path) - 1, 0, -1):
        if path[:end] in provenance:
            return provenance[path[:end]]
    return default
