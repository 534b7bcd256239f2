"""The sweep file (docs/sweeps.md): base hardware and workloads, axes of values, and how they combine into points.

Everything here is about the file alone; whether a point's values make a valid chip is checked in plan.py.
"""

import math
import random
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from simulator.config import units
from simulator.config.presets import preset_dir
from simulator.config.yamlio import read_mapping
from simulator.errors import MISSING, ConfigError

MODES = ("grid", "zip", "random")
KEYS = ("name", "description", "hardware", "workloads", "set", "mode", "samples", "seed", "axes")
RANGE_KEYS = ("from", "to", "steps", "step", "scale")
MAX_POINTS = 1_000_000  # a bigger grid is a typo or a job for mode: random
HARDWARE = "hardware"  # the implicit axis of a hardware list

_NUMBER = re.compile(r"^\s*([+-]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-zµμ/]+)?\s*$")


def _unit_table() -> dict[str, tuple[str, Fraction]]:
    """unit → (kind, factor to the base unit), from every *_UNITS table of simulator.config.units, so
    units added there (energy, power) work in sweeps too. Cycles and B/cycle are kinds of their own."""
    table: dict[str, tuple[str, Fraction]] = {}
    for name, mapping in vars(units).items():
        if name.endswith("_UNITS") and isinstance(mapping, dict):
            for unit, factor in mapping.items():
                table.setdefault(unit, (name, Fraction(str(factor)) if isinstance(factor, float) else Fraction(factor)))
    for unit in units.CYCLE_UNITS:
        table.setdefault(unit, ("cycles", Fraction(1)))
    table.setdefault("B/cycle", ("B/cycle", Fraction(1)))
    return table


UNITS = _unit_table()


@dataclass(frozen=True)
class Axis:
    """One swept setting: one or more tied paths that take the same value at every point, or (`per_path`)
    several paths that take one value each from every item, e.g. `parallel.tp, parallel.dp: [[8, 1], [4, 2]]`."""

    label: str  # as written in the file, e.g. "core.mxu.rows, core.mxu.cols"
    paths: tuple[str, ...]
    values: tuple  # numbers in `unit`, or text; per_path: tuples of plain numbers or text, one per path
    unit: str | None  # the unit every number is expressed in; None for plain numbers or text
    raw: object  # the value as written, for messages
    per_path: bool = False

    def value_of(self, value, path: str):
        """What `path` takes at a point where the axis has `value`."""
        return value[self.paths.index(path)] if self.per_path else value

    def config_value(self, value):
        """What the config receives: `"1.2 TB/s"` for a unit axis, else the value itself."""
        return f"{number_text(value)} {self.unit}" if self.unit else value

    def shown(self, value) -> str:
        return f"{number_text(value)} {self.unit}" if self.unit else str(value)


@dataclass(frozen=True)
class Sweep:
    source: str  # the file as given on the command line, for messages
    path: Path
    name: str
    description: str
    hardware: tuple[str, ...]  # as written
    workloads: tuple[str, ...]
    fixed: tuple[str, ...]  # `set:` overrides, `path=value`
    mode: str
    samples: int | None
    seed: int
    axes: tuple[Axis, ...]  # a hardware list is the first axis, with the single path `hardware`

    @property
    def grid_size(self) -> int:
        return math.prod(len(a.values) for a in self.axes)


@dataclass(frozen=True)
class Point:
    index: int
    values: tuple  # one per axis of the sweep

    def columns(self, sweep: Sweep) -> dict:
        """Every swept path → its value at this point (tied paths share it)."""
        return {path: axis.value_of(value, path) for axis, value in zip(sweep.axes, self.values, strict=True)
                for path in axis.paths}

    def describe(self, sweep: Sweep) -> str:
        return ", ".join(f"{path}={axis.shown(axis.value_of(value, path))}"
                         for axis, value in zip(sweep.axes, self.values, strict=True) for path in axis.paths)


def number_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def resolve_sweep_path(spec: str) -> Path:
    """A file; else a bundled sweep `NAME` or, for a missing `configs/sweeps/NAME.yaml`, the bundled one, so the
    README's commands work after a non-editable install too."""
    path = Path(spec)
    if path.is_file():
        return path
    bundled = preset_dir() / "sweeps"
    for name in (spec, path.stem if path.parent.name == "sweeps" and path.suffix in (".yaml", ".yml") else None):
        if name and "/" not in name and (bundled / f"{name}.yaml").is_file():
            return bundled / f"{name}.yaml"
    names = ", ".join(sorted(p.stem for p in bundled.glob("*.yaml")))
    raise ConfigError(spec, "", spec, f"no such sweep file or bundled sweep; bundled: {names}")


def load_sweep(spec: str) -> Sweep:
    """Read and check a sweep file; every problem is one ConfigError naming the file and field."""
    path = resolve_sweep_path(spec)
    source = str(path) if path != Path(spec) else spec
    data = read_mapping(path)
    for key in data:
        if key not in KEYS:
            raise ConfigError(source, str(key), data[key], "unknown field; allowed here: " + ", ".join(KEYS))
    name = _text(data, "name", source, path.stem)
    description = _text(data, "description", source, "")
    hardware = _names(data, "hardware", source, "a preset name or hardware file, or a list of them")
    workloads = _names(data, "workloads", source, "a workload file or a list of them")
    fixed = _fixed(data.get("set", []), source)
    mode = data.get("mode", "grid")
    if mode not in MODES:
        raise ConfigError(source, "mode", mode, "must be one of " + ", ".join(MODES))
    samples, seed = _sampling(data, mode, source)
    axes = _axes(data.get("axes", {}), source)
    if len(hardware) > 1:
        axes = (Axis(HARDWARE, (HARDWARE,), hardware, None, list(hardware)),) + axes
    taken = {p.split("=", 1)[0].strip(): p for p in fixed}
    for axis in axes:
        for p in axis.paths:
            if p in taken:
                raise ConfigError(source, f"axes.{axis.label}", axis.raw, f"{p} is also fixed by set: {taken[p]}; "
                                  "keep one of them")
    sweep = Sweep(source, path, name, description, hardware, workloads, fixed, mode, samples, seed, axes)
    _check_shape(sweep)
    return sweep


def _text(data, key, source, default) -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(source, key, value, "must be text")
    return value


def _names(data, key, source, allowed) -> tuple[str, ...]:
    value = data.get(key, MISSING)
    items = value if isinstance(value, list) else [value]
    if value is MISSING or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise ConfigError(source, key, value, f"must be {allowed}")
    if len(set(items)) < len(items):
        raise ConfigError(source, key, value, "lists the same entry twice")
    return tuple(items)


def _fixed(value, source) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, str) or "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(source, "set", item, "must be a list of path=value overrides, e.g. [scenario.batch=8]")
    return tuple(items)


def _sampling(data, mode, source) -> tuple[int | None, int]:
    samples, seed = data.get("samples"), data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(source, "seed", seed, "must be a whole number")
    if mode != "random":
        if samples is not None:
            raise ConfigError(source, "samples", samples, f"applies to mode: random only (mode is {mode})")
        return None, seed
    if samples is None:
        raise ConfigError(source, "samples", MISSING, "mode: random needs samples: how many points to draw")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(source, "samples", samples, "must be a whole number ≥ 1")
    return samples, seed


def _axes(value, source) -> tuple[Axis, ...]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(source, "axes", value, "must be a mapping of path: values, e.g. core.mxu.rows: [64, 128]")
    axes, seen = [], {}
    for label, spec in value.items():
        label = str(label)
        paths = tuple(p.strip() for p in label.split(","))
        for p in paths:
            if not p or any(not part for part in p.split(".")):
                raise ConfigError(source, f"axes.{label}", spec, "an axis is a dotted path (or several, "
                                  "comma-separated), e.g. core.mxu.rows")
            if p in (HARDWARE, "workload", "workloads"):
                raise ConfigError(source, f"axes.{label}", spec, f"{p} is not a config path; list several "
                                  f"{'hardware' if p == HARDWARE else 'workloads'} at the top level instead")
            if p in seen:
                raise ConfigError(source, f"axes.{label}", spec, f"{p} is already swept by axes.{seen[p]}")
            seen[p] = label
        if len(paths) > 1 and isinstance(spec, list) and spec and all(isinstance(v, list) for v in spec):
            axes.append(Axis(label, paths, _per_path_values(spec, paths, f"axes.{label}", source), None, spec,
                             True))
            continue
        values, unit = axis_values(spec, f"axes.{label}", source)
        axes.append(Axis(label, paths, values, unit, spec))
    return tuple(axes)


def _check_shape(sweep: Sweep) -> None:
    if sweep.mode == "zip" and sweep.axes:
        lengths = {a.label: len(a.values) for a in sweep.axes}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{label} has {n}" for label, n in lengths.items())
            raise ConfigError(sweep.source, "", "axes", f"mode zip needs axes of equal length; {shown}")
        return
    size = sweep.grid_size
    if sweep.mode == "random" and sweep.samples > MAX_POINTS:
        raise ConfigError(sweep.source, "samples", sweep.samples, f"must be ≤ {MAX_POINTS:,} (more points are a "
                          "job for several sweeps)")
    if sweep.mode == "random" and sweep.samples > size:
        raise ConfigError(sweep.source, "samples", sweep.samples, f"must be ≤ {size:,}, the number of points in "
                          "the grid")
    if sweep.mode == "grid" and size > MAX_POINTS:
        raise ConfigError(sweep.source, "", "axes", f"the grid has {size:,} points, more than {MAX_POINTS:,}; use "
                          "mode: random with samples: N to draw some of them")


# ---- axis values -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Quantity:
    number: Fraction
    unit: str | None


def _quantity(value, where, source, label) -> _Quantity | None:
    """A number with an optional unit, or None for text. An unknown unit is an error."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _Quantity(Fraction(value), None)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(source, where, value, f"{label} must be a finite number")
        return _Quantity(Fraction(repr(value)), None)
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if not match:
            return None
        unit = match.group(2)
        if unit is not None and unit not in UNITS:
            raise ConfigError(source, where, value, f"unknown unit {unit!r} (units are those of config files: "
                              "MiB, GB, TB/s, B/cycle, GHz, ns, cycles, …; docs/configuration.md)")
        return _Quantity(Fraction(match.group(1).replace("_", "")), unit)
    return None


def axis_values(spec, where: str, source: str) -> tuple[tuple, str | None]:
    """The axis's values (numbers in one unit, or text) and that unit."""
    if isinstance(spec, dict):
        return _range(spec, where, source)
    items = spec if isinstance(spec, list) else [spec]
    if spec is None or not items:
        raise ConfigError(source, where, spec, "empty axis; give a list of values or a range {from, to, steps}")
    quantities = [_quantity(v, where, source, repr(v)) for v in items]
    if all(q is None for q in quantities):
        if not all(isinstance(v, str | bool) for v in items):
            raise ConfigError(source, where, spec, "values must be numbers (with or without a unit) or text")
        return tuple(items), None
    if any(q is None for q in quantities):
        raise ConfigError(source, where, spec, "mixes numbers and text; an axis holds one kind of value")
    return _in_one_unit(quantities, where, source, spec)


def _per_path_values(spec: list, paths: tuple, where: str, source: str) -> tuple:
    """Items of one value per path, each a plain number or text (units are for single-path axes)."""
    out = []
    for item in spec:
        if len(item) != len(paths):
            raise ConfigError(source, where, item, f"gives {len(item)} value(s) for {len(paths)} paths; give one "
                              f"per path, in the order {', '.join(paths)}")
        for v in item:
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise ConfigError(source, where, item, "values of several paths must be plain numbers or text")
        out.append(tuple(item))
    if len(set(out)) != len(out):
        raise ConfigError(source, where, spec, "lists the same values twice")
    return tuple(out)


def _in_one_unit(quantities: list[_Quantity], where, source, spec) -> tuple[tuple, str | None]:
    """Every number in the unit of the first one (exactly, with fractions); whole numbers stay integers."""
    unit = quantities[0].unit
    if any((q.unit is None) != (unit is None) for q in quantities):
        raise ConfigError(source, where, spec, "mixes plain numbers and numbers with a unit; give every value a unit")
    if unit is None:
        return _numbers([q.number for q in quantities]), None
    kind, base = UNITS[unit]
    out = []
    for q in quantities:
        other_kind, factor = UNITS[q.unit]
        if other_kind != kind:
            raise ConfigError(source, where, spec, f"mixes units of different kinds ({unit} and {q.unit})")
        out.append(q.number * factor / base)
    return _numbers(out), unit


def _numbers(values: list) -> tuple:
    """Integers when every value is whole, else floats."""
    if all(v == int(v) for v in values):
        return tuple(int(v) for v in values)
    return tuple(float(v) for v in values)


def _range(spec: dict, where: str, source: str) -> tuple[tuple, str | None]:
    """{from, to, steps} (inclusive, linear or `scale: log`) or {from, to, step} (linear, up to `to`)."""
    if not spec:
        raise ConfigError(source, where, spec, "empty axis; give a list of values or a range {from, to, steps}")
    for key in spec:
        if key not in RANGE_KEYS:
            raise ConfigError(source, f"{where}.{key}", spec[key], "unknown field; allowed here: "
                              + ", ".join(RANGE_KEYS))
    ends = {}
    for key in ("from", "to"):
        if key not in spec:
            raise ConfigError(source, f"{where}.{key}", MISSING, "a range needs from, to and steps (or step)")
        q = _quantity(spec[key], where, source, f"{key} = {spec[key]!r}")
        if q is None:
            raise ConfigError(source, where, spec, f"{key} = {spec[key]!r}: must be a number, with or without a unit")
        ends[key] = q
    scale = spec.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise ConfigError(source, f"{where}.scale", scale, "must be linear or log")
    if ("steps" in spec) == ("step" in spec):
        raise ConfigError(source, where, spec, "give steps (how many values) or step (the increment), not both"
                          if "steps" in spec else "a range needs steps (how many values) or step (the increment)")
    (lo, hi), unit = _in_one_unit([ends["from"], ends["to"]], where, source, spec)
    lo, hi = _exact(ends["from"], unit), _exact(ends["to"], unit)
    if "steps" in spec:
        steps = spec["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ConfigError(source, f"{where}.steps", steps, "must be a whole number ≥ 2 (both ends are included)")
        if steps > MAX_POINTS:
            raise ConfigError(source, f"{where}.steps", steps, f"must be ≤ {MAX_POINTS:,}")
        if scale == "log":
            return _log(lo, hi, steps, where, source, spec), unit
        return _numbers([lo + (hi - lo) * i / (steps - 1) for i in range(steps)]), unit
    if scale == "log":
        raise ConfigError(source, f"{where}.step", spec["step"], "scale: log needs steps (how many values)")
    q = _quantity(spec["step"], where, source, f"step = {spec['step']!r}")
    if q is None or q.number <= 0:
        raise ConfigError(source, f"{where}.step", spec["step"], "must be a number > 0, in the unit of from")
    if q.unit is not None:
        _in_one_unit([ends["from"], q], where, source, spec)
    step = _exact(q, unit) if q.unit else q.number
    count = int(abs(hi - lo) / step) + 1
    if count > MAX_POINTS:
        raise ConfigError(source, f"{where}.step", spec["step"], f"gives {count:,} values; more than {MAX_POINTS:,}")
    sign = 1 if hi >= lo else -1
    return _numbers([lo + sign * step * i for i in range(count)]), unit


def _exact(q: _Quantity, unit: str | None) -> Fraction:
    return q.number if unit is None else q.number * UNITS[q.unit][1] / UNITS[unit][1]


def _log(lo: Fraction, hi: Fraction, steps: int, where, source, spec) -> tuple:
    if lo <= 0 or hi <= 0:
        raise ConfigError(source, where, spec, "scale: log needs from and to > 0")
    ratio = float(hi) / float(lo)
    values = [lo] + [float(lo) * ratio ** (i / (steps - 1)) for i in range(1, steps - 1)] + [hi]
    snapped = [round(v) if abs(v - round(v)) <= 1e-9 * abs(v) else v for v in values]  # 64·2.0000000000004 → 128
    if all(v == int(v) for v in snapped):
        return tuple(int(v) for v in snapped)
    return tuple(float(v) for v in values)


# ---- expansion -----------------------------------------------------------------------------------------------


def expand(sweep: Sweep) -> list[Point]:
    """The points in order: grid (the first axis varies slowest), zip (axes advance together) or random
    (`samples` distinct grid points drawn with `seed`, kept in grid order)."""
    if not sweep.axes:
        return [Point(0, ())]
    if sweep.mode == "zip":
        n = len(sweep.axes[0].values)
        return [Point(i, tuple(a.values[i] for a in sweep.axes)) for i in range(n)]
    size = sweep.grid_size
    if sweep.mode == "random":
        indices = sorted(random.Random(sweep.seed).sample(range(size), sweep.samples))
    else:
        indices = range(size)
    return [Point(i, _grid_values(sweep.axes, g)) for i, g in enumerate(indices)]


def _grid_values(axes, index: int) -> tuple:
    values = []
    for axis in reversed(axes):
        index, digit = divmod(index, len(axis.values))
        values.append(axis.values[digit])
    return tuple(reversed(values))
