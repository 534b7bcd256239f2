"""YAML reading and dotted-path overrides shared by every config-like file (hardware, workloads)."""

import copy
import json
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


MAX_FILE_BYTES = 8 * 2**20  # config, workload and model files are kilobytes; this is 8 MiB
MAX_DEPTH = 64  # nesting levels of mappings and lists
MAX_VALUES = 1_000_000  # values once YAML aliases are expanded


class _NoDuplicateKeys:
    """A loader mix-in refusing a key written twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        _no_duplicate_keys(node)
        return super().construct_mapping(node, deep)


class _StrictLoader(_NoDuplicateKeys, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's safe loader, the C parser when installed."""


class _PythonLoader(_NoDuplicateKeys, yaml.SafeLoader):
    """The pure-Python safe loader, whose messages name a syntax problem where the C parser's may not."""


class _Duplicate(Exception):
    def __init__(self, key: str, line: int):
        super().__init__(key, line)
        self.key, self.line = key, line


def _no_duplicate_keys(node) -> None:
    seen: dict = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = (key_node.tag, key_node.value)
        if key in seen:
            raise _Duplicate(key_node.value, key_node.start_mark.line + 1)
        seen[key] = True


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    return f"line {line}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def _parse(path: Path) -> dict:
    """Read and parse a YAML (or, by its `.json` suffix, JSON) file into its top-level mapping; every way a
    file can break the reader is one ConfigError line: missing, unreadable, too big, not UTF-8 text, a NUL
    byte, invalid syntax, a key written twice, nested too deep, aliases that expand too far."""
    shown = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(shown, "", shown, f"is {size / 2**20:.1f} MiB; config, workload and model files are "
                              f"limited to {MAX_FILE_BYTES // 2**20} MiB (they are kilobytes of text)")
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(shown, "", shown, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(shown, "", shown, "is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(shown, "", shown, f"cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _position(raw[:exc.start].decode("utf-8", "replace"), exc.start)
        raise ConfigError(shown, "", where, f"byte 0x{raw[exc.start]:02x} is not UTF-8 text; config files are "
                          "UTF-8 text (is this a binary file?)") from None
    if "\x00" in text:
        raise ConfigError(shown, "", _position(text, text.index("\x00")), "a NUL byte; config files are text")
    data = _parse_json(text, shown) if Path(path).suffix.lower() == ".json" else _parse_yaml(text, shown)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, "", type(data).__name__, "the file must hold a mapping of fields")
    _check_extent(data, shown)
    return data


def _parse_yaml(text: str, shown: str):
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a safe loader)
    except _Duplicate as exc:
        raise ConfigError(shown, "", f"line {exc.line}", f"key {exc.key!r} is written twice in one mapping; "
                          "give each field once") from None
    except RecursionError:
        raise ConfigError(shown, "", shown, f"nested too deeply to read; files may nest {MAX_DEPTH} levels") from None
    except yaml.YAMLError:
        pass
    try:  # the pure-Python parser's message, which names the problem as the C parser does not always
        yaml.load(text, Loader=_PythonLoader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(shown, "", where, f"not valid YAML ({problem})") from None
    except RecursionError:  # libyaml ≥ 0.2.6 stops deep nesting itself, as a scanner error; this parser recurses
        raise ConfigError(shown, "", shown, f"nested too deeply to read; files may nest {MAX_DEPTH} levels") from None
    except _Duplicate:
        pass
    raise ConfigError(shown, "", shown, "not valid YAML")


def _parse_json(text: str, shown: str):
    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                raise _Duplicate(key, 0)
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise ConfigError(shown, "", f"line {exc.lineno}, column {exc.colno}", f"not valid JSON ({exc.msg})") from None
    except _Duplicate as exc:
        raise ConfigError(shown, "", shown, f"key {exc.key!r} is written twice in one object; give each field "
                          "once") from None
    except RecursionError:
        raise ConfigError(shown, "", shown, f"nested too deeply to read; files may nest {MAX_DEPTH} levels") from None


def _check_extent(data: dict, shown: str) -> None:
    """Nesting depth, and the values counted as often as aliases repeat them (counted once per object and
    depth, so a file whose aliases double at every level costs its own size to check, not its expansion)."""
    sizes: dict = {}

    def size(node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError(shown, "", shown, f"nests more than {MAX_DEPTH} levels of mappings and lists")
        if not isinstance(node, dict | list):
            return 1
        key = (id(node), depth)
        if key not in sizes:
            children = node.values() if isinstance(node, dict) else node
            sizes[key] = 1 + sum(size(child, depth + 1) for child in children)
            if sizes[key] > MAX_VALUES:
                raise ConfigError(shown, "", shown, f"its YAML aliases expand to more than {MAX_VALUES:,} values; "
                                  "write the values out, or use fewer nested aliases")
        return sizes[key]

    size(data, 0)


def parse_override(text: str) -> tuple[list[str], object]:
    """`core.mxu.rows=256` → (['core', 'mxu', 'rows'], 256); the value is read as YAML, by the loader files
    are read with (a key written twice, deep nesting and aliases that expand too far are refused)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError("--set", "", text, "overrides are written path.to.field=value, e.g. core.mxu.rows=256")
    try:
        value = _override_value(raw)
    except _Duplicate as exc:
        raise ConfigError(f"--set {key}=…", "", key, f"key {exc.key!r} is written twice in one mapping") from None
    except RecursionError:
        raise ConfigError(f"--set {key}=…", "", key, f"the value nests too deeply; at most {MAX_DEPTH} "
                          "levels") from None
    if isinstance(value, dict | list):
        _check_extent({"": value}, f"--set {key}=…")
    return key.split("."), value if type(value) in _IMMUTABLE else copy.deepcopy(value)  # the caller's own copy


@lru_cache(maxsize=4096)
def _override_value(raw: str):
    """The value of an override as YAML reads it. Kept by text: a sweep sets each axis value at many points
    (`"1.2 TB/s"`, `64`), and YAML takes about 50 µs a value."""
    try:
        return yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""  # noqa: S506 (a safe loader)
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
