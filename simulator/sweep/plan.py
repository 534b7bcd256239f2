"""Every row of a sweep resolved and validated before anything runs: what each worker loads, and the row's key.

A row is one point × one workload. Its key hashes the fully resolved chip, the resolved workload and the
Tortoise version, so a resumed sweep (or another sweep in the same folder) can tell what is already done.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from simulator import __version__
from simulator.config.loader import HardwareFile, resolve_hardware_path
from simulator.config.presets import preset_dir
from simulator.errors import ConfigError, TortoiseError
from simulator.overrides import split_overrides
from simulator.sweep.spec import HARDWARE, Point, Sweep, expand
from simulator.workloads.loader import bundled_dir, load_workload, resolve_workload_path

UNKNOWN_PATH = ("unknown field", "not a hardware field", "is a value, not a group", "there are ")


@dataclass(frozen=True)
class Task:
    """What a worker receives: specs it can load itself (preset names and `workloads/NAME.yaml` stay names)."""

    hardware: str
    hardware_overrides: tuple[str, ...]
    workload: str
    workload_overrides: tuple[str, ...]
    key: str


@dataclass(frozen=True)
class Row:
    point: int
    workload_index: int
    hardware: str  # as named in the sweep file
    workload: str  # the workload's name
    workload_file: str  # as written in the sweep file
    columns: dict  # swept path → value
    task: Task


@dataclass(frozen=True)
class Plan:
    sweep: Sweep
    points: list[Point]
    rows: list[Row]  # sorted by (point, workload order)
    # What validation loaded, for this process and the local workers it forks (runner.use_plan): (spec,
    # overrides) → (config, digest), so a point is validated once. Up to KEPT_CHIPS chips; workers load the rest.
    chips: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    workloads: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)


KEPT_CHIPS = 10_000  # about 9 KB each


# ---- keys ------------------------------------------------------------------------------------------------------


def canonical(obj):
    """Plain JSON data for a config object, exact and the same in every process and on every machine (floats
    keep every digit, unlike the `1200 GB/s` a Rate prints; `source` paths are left out).

    Models and dataclasses give {field: value}, dicts {str(key): value}, lists and tuples lists; str, int,
    float, bool and None stay as they are, anything else is its repr. Keys stored in points.jsonl hash this,
    so it must not change; how each type is converted is worked out once per type (a sweep hashes a
    chip per point)."""
    kind = type(obj)
    convert = _CONVERTERS.get(kind)
    if convert is None:
        convert = _CONVERTERS[kind] = _converter(kind)
    return convert(obj)


_CONVERTERS: dict = {}


def _as_is(obj):
    return obj


def _converter(kind: type):
    """What canonical does with an instance of `kind`; the checks run in the order they always have."""
    if issubclass(kind, BaseModel):
        names = tuple(kind.model_fields)
        return lambda obj: {name: canonical(getattr(obj, name)) for name in names}
    if dataclasses.is_dataclass(kind):
        names = tuple(f.name for f in dataclasses.fields(kind) if f.name != "source")
        return lambda obj: {name: canonical(getattr(obj, name)) for name in names}
    if issubclass(kind, dict):
        return lambda obj: {str(k): canonical(v) for k, v in obj.items()}
    if issubclass(kind, list | tuple):
        return lambda obj: [canonical(v) for v in obj]
    if kind is type(None) or issubclass(kind, str | int | float | bool):
        return _as_is
    return repr


def digest(obj) -> str:
    text = json.dumps(canonical(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def row_key(chip_digest: str, workload_digest: str) -> str:
    return hashlib.sha256(f"tortoise {__version__}\n{chip_digest}\n{workload_digest}".encode()).hexdigest()[:32]


# ---- where the files are ---------------------------------------------------------------------------------------


def hardware_spec(text: str, sweep: Sweep) -> str:
    """Beside the sweep file, then the current folder, then a preset (kept as its name)."""
    for candidate in (sweep.path.parent / text, Path(text)):
        if candidate.is_file():
            found = candidate.resolve()
            break
    else:
        try:
            found = resolve_hardware_path(text)
        except ConfigError as exc:
            raise ConfigError(sweep.source, HARDWARE, text, exc.allowed) from None
    return found.stem if found.parent.resolve() == preset_dir().resolve() else str(found)


def workload_spec(text: str, sweep: Sweep) -> str:
    """Beside the sweep file, then the current folder, then a bundled workload (kept as `workloads/NAME.yaml`)."""
    for candidate in (sweep.path.parent / text, Path(text)):
        if candidate.is_file():
            found = candidate.resolve()
            break
    else:
        found = resolve_workload_path(text)
        if not found.is_file():
            raise ConfigError(sweep.source, "workloads", text, "no such file (looked beside the sweep file, in the "
                              "current folder and among the bundled workloads)")
    return f"workloads/{found.name}" if found.parent.resolve() == bundled_dir().resolve() else str(found)


# ---- validation ------------------------------------------------------------------------------------------------


class _Loader:
    """Loads each distinct (spec, overrides) once: 1000 points over one workload load it once. Keeps what it
    loaded (up to KEPT_CHIPS chips) with its digest, for the run."""

    def __init__(self):
        self.chips: dict = {}
        self.workloads: dict = {}
        self.kept_chips: dict = {}
        self.kept_workloads: dict = {}
        self.files: dict = {}  # hardware spec → HardwareFile (read once), or the error reading it

    def chip(self, spec: str, overrides: tuple) -> str:
        keep = self.kept_chips if len(self.kept_chips) < KEPT_CHIPS else None
        return self._load(self.chips, keep, self._load_chip, spec, overrides)[0]

    def _load_chip(self, spec: str, overrides: list[str]):
        """load_chip(spec, overrides), the file found and read once for all points."""
        file = self.files.get(spec)
        if file is None:
            try:
                file = HardwareFile(spec)
            except TortoiseError as exc:
                file = exc
            self.files[spec] = file
        if isinstance(file, Exception):
            raise file
        return file.chip(overrides)

    def workload(self, spec: str, overrides: tuple) -> tuple[str, str]:
        keep = self.kept_workloads if len(self.kept_workloads) < KEPT_CHIPS else None
        return self._load(self.workloads, keep, load_workload, spec, overrides)

    @staticmethod
    def _load(cache, keep, load, spec, overrides):
        entry = cache.get((spec, overrides))
        if entry is None:
            try:
                loaded = load(spec, list(overrides))
                entry = (digest(loaded), loaded.name)
                if keep is not None:
                    keep[(spec, overrides)] = (loaded, entry[0])
            except TortoiseError as exc:
                entry = exc
            cache[(spec, overrides)] = entry
        if isinstance(entry, Exception):
            raise entry
        return entry


def _override(path: str, axis, value) -> str:
    return f"{path}={json.dumps(axis.config_value(value), ensure_ascii=False)}"


class _Router:
    """Which paths go to the hardware and which to the workload (simulator.overrides decides)."""

    def __init__(self, sweep: Sweep):
        self.sweep = sweep
        try:
            self.fixed_hw, self.fixed_wl = split_overrides(list(sweep.fixed))
        except ConfigError as exc:
            raise ConfigError(sweep.source, "set", exc.source.removeprefix("--set "), exc.allowed) from None
        self.to_hardware: dict[str, bool] = {}
        self.texts: dict = {}  # (axis index, path, repr(value)) → override text, the same at every point
        for axis in sweep.axes:
            for path in axis.paths:
                if path == HARDWARE:
                    continue
                try:
                    hw, _ = split_overrides([f"{path}=0"])
                except ConfigError as exc:
                    raise TortoiseError(f"{sweep.source}: axes.{axis.label}: {exc.allowed}") from None
                self.to_hardware[path] = bool(hw)

    def overrides(self, values: tuple) -> tuple[str, tuple, tuple, dict]:
        """(hardware as named, hardware overrides, workload overrides, override text → axis index)."""
        hardware = self.sweep.hardware[0]
        hw, wl, owner = list(self.fixed_hw), list(self.fixed_wl), {}
        for i, (axis, value) in enumerate(zip(self.sweep.axes, values, strict=True)):
            for path in axis.paths:
                if path == HARDWARE:
                    hardware = value
                    continue
                text = self._text(i, path, axis, axis.value_of(value, path))
                (hw if self.to_hardware[path] else wl).append(text)
                owner[text] = i
        return hardware, tuple(hw), tuple(wl), owner

    def _text(self, i: int, path: str, axis, value) -> str:
        key = (i, path, repr(value))  # not the value: 1, 1.0 and True are equal keys but different texts
        text = self.texts.get(key)
        if text is None:
            text = _override(path, axis, value)
            if path.startswith(("hardware.", "workload.")):
                text = text.split(".", 1)[1]  # as split_overrides passes it on
            self.texts[key] = text
        return text


def plan(sweep: Sweep) -> Plan:
    """Expand and validate every point; the first bad one is one TortoiseError naming the point (or the axis,
    when every value of that axis fails the same way, or `set:` for a fixed override)."""
    router, loader = _Router(sweep), _Loader()
    hw_specs = {name: hardware_spec(name, sweep) for name in sweep.hardware}
    wl_specs = [workload_spec(text, sweep) for text in sweep.workloads]
    points = expand(sweep)
    rows = []
    for point in points:
        hardware, hw, wl, owner = router.overrides(point.values)
        try:
            chip_digest = loader.chip(hw_specs[hardware], hw)
        except TortoiseError as exc:
            raise _explain(exc, sweep, point, router, loader, hw_specs, None) from None
        columns = point.columns(sweep)
        for w, (text, spec) in enumerate(zip(sweep.workloads, wl_specs, strict=True)):
            try:
                wl_digest, name = loader.workload(spec, wl)
            except TortoiseError as exc:
                raise _explain(exc, sweep, point, router, loader, hw_specs, (text, spec)) from None
            key = row_key(chip_digest, wl_digest)
            rows.append(Row(point.index, w, hardware, name, text, columns, Task(hw_specs[hardware], hw, spec, wl, key)))
    return Plan(sweep, points, rows, loader.kept_chips, loader.kept_workloads)


def _explain(exc: TortoiseError, sweep: Sweep, point: Point, router: _Router, loader: _Loader, hw_specs,
             workload) -> TortoiseError:
    """The one line for a point that does not load: blame `set:`, the axis, or the point."""
    if not isinstance(exc, ConfigError) or not exc.source.startswith("--set "):
        return TortoiseError(f"{sweep.source}: {_where(sweep, point, workload)}: {exc}")
    text = exc.source.removeprefix("--set ")
    detail = str(ConfigError("", exc.field, exc.value, exc.allowed)).removeprefix(": ")
    _, _, _, owner = router.overrides(point.values)
    if text not in owner:
        return TortoiseError(f"{sweep.source}: set: {detail}")
    k = owner[text]
    axis = sweep.axes[k]
    if len(axis.values) > 1 and _fails_for_every_value(exc, sweep, point, k, router, loader, hw_specs, workload):
        if exc.allowed.startswith(UNKNOWN_PATH):
            field = "" if exc.field in axis.paths else f"{exc.field}: "
            return TortoiseError(f"{sweep.source}: axes.{axis.label}: {field}{exc.allowed}")
        shown = f"from = {axis.raw['from']!r}" if isinstance(axis.raw, dict) else repr(axis.raw)
        return TortoiseError(f"{sweep.source}: axes.{axis.label}: {shown}: {exc.allowed}")
    return TortoiseError(f"{sweep.source}: {_where(sweep, point, workload)}: {detail}")


def _fails_for_every_value(exc, sweep, point, k, router, loader, hw_specs, workload) -> bool:
    for value in sweep.axes[k].values:
        values = point.values[:k] + (value,) + point.values[k + 1:]
        hardware, hw, wl, _ = router.overrides(values)
        try:
            if workload is None:
                loader.chip(hw_specs[hardware], hw)
            else:
                loader.workload(workload[1], wl)
            return False
        except ConfigError as other:
            if (other.field, other.allowed) != (exc.field, exc.allowed):
                return False
        except TortoiseError:
            return False
    return True


def _where(sweep: Sweep, point: Point, workload) -> str:
    described = point.describe(sweep)
    where = f"point {point.index}" + (f" ({described})" if described else "")
    return where + (f", workload {workload[0]}" if workload else "")
