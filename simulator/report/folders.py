"""Read a folder written by `run --out`, `sweep --out` or `compare --out` and say which it is, so that plots
and the report work from files alone (the formats are in docs/plots.md and docs/sweeps.md)."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import MISSING, ConfigError, TortoiseError, shown_value
from simulator.results.catalogue import known, metric
from simulator.results.files import RUN_TABLES, folder_kind


@dataclass
class Folder:
    path: Path
    kind: str  # "run" | "sweep" | "compare"
    meta: dict = field(default_factory=dict)  # sweep/compare meta.json; a run's summary.json
    table: pd.DataFrame | None = None  # sweep results / compare rows, errors included
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # run: ops, breakdown, stages, links, timeline

    @property
    def units(self) -> dict[str, str | None]:
        """Unit of each swept axis column (meta.json `axes`)."""
        return {path: axis.get("unit") for path, axis in self.meta.get("axes", {}).items()}

    @property
    def axes(self) -> list[str]:
        return list(self.meta.get("axes", {}))

    def tied(self, column: str | None) -> set[str]:
        """Columns swept together with `column` (e.g. rows and cols of a square MXU), itself included."""
        axis = self.meta.get("axes", {}).get(column) if column else None
        return set(axis.get("tied") or [column]) if axis else {column}

    def distinct_axes(self) -> list[str]:
        """The swept axes, one per tied group (the first named)."""
        out, seen = [], set()
        for path in self.axes:
            if path not in seen:
                out.append(path)
                seen |= self.tied(path)
        return out

    def ok_rows(self) -> tuple[pd.DataFrame, int]:
        """Rows that ran, and how many failed (plots skip those and say so)."""
        t = self.table
        if t is None or "status" not in t.columns:
            return t, 0
        ok = t["status"].astype(str) == "ok"
        return t[ok].reset_index(drop=True), int((~ok).sum())


def load_folder(path: str | Path) -> Folder:
    """The folder's kind, JSON and tables, each checked for the shape plots and the report read: a file of
    the wrong shape (a list for an object, text for a number, a missing column) is one line naming it."""
    path = Path(path)
    if not path.is_dir():
        raise TortoiseError(f"{path}: no such folder (give a folder written by `tortoise run --out`, "
                            "`tortoise sweep --out` or `tortoise compare --out`)")
    meta_path = path / "meta.json"
    if meta_path.is_file():
        meta = _json(meta_path)
        kind = meta.get("kind")
        if kind == "sweep":
            check_sweep_meta(meta_path, meta)
            return Folder(path, "sweep", meta, _checked_table(path, "results", SWEEP_COLUMNS))
        if kind == "compare":
            check_compare_meta(meta_path, meta)
            return Folder(path, "compare", meta, _checked_table(path, "compare", COMPARE_COLUMNS))
        raise TortoiseError(f"{meta_path}: kind = {shown_value(kind)}: expected 'sweep' or 'compare'")
    if (path / "summary.json").is_file() and folder_kind(path) == "serve":
        summary = _json(path / "summary.json")
        check_serve_summary(path / "summary.json", summary)
        tables = {stem: _checked_table(path, stem, columns) for stem, columns in SERVE_COLUMNS.items()}
        return Folder(path, "serve", summary, None, tables)
    if (path / "summary.json").is_file():
        summary = _json(path / "summary.json")
        check_summary(path / "summary.json", summary)
        tables = {stem: t for stem in RUN_TABLES if (t := _table(path, stem, required=stem == "ops", run=True))
                  is not None}
        _check_columns(path, "ops", tables["ops"], OPS_COLUMNS)
        return Folder(path, "run", summary, None, tables)
    raise TortoiseError(f"{path}: not a run, sweep or compare folder (it has no summary.json or meta.json)")


# What plots and the report read, by file: a key or column missing or of the wrong type is one line.
RUN_TEXT = ("workload", "chip")
RUN_NUMBERS = ("clock_hz", "cycles", "seconds", "peak_tflops")
RUN_NUMBER_MAPS = ("peak_tflops_by_dtype", "time_share")  # dtype or op group → number
OPS_COLUMNS = ("name", "type", "cycles", "start", "end", "flops", "achieved_tflops", "arithmetic_intensity",
               "compute_cycles", "stall_cycles", "overhead_cycles", "hbm_read", "hbm_write")
OPS_TEXT = ("name", "type")
SWEEP_COLUMNS = ("point", "workload", "status")
SERVE_COLUMNS = {"requests": ("arrival_s", "first_token_s", "finish_s", "ttft_s", "tpot_s", "e2e_s"),
                 "iterations": ("instance", "start_s", "end_s", "decodes", "prefills", "kv_share", "running",
                                "waiting")}
SERVE_TEXT = ("workload", "chip", "model", "scheduler")
SERVE_NUMBERS = ("requests", "output_tokens_per_s", "ttft_p50_s")
COMPARE_COLUMNS = ("design", "workload", "status")
AGAIN = "write the folder again with this Tortoise"


def _number(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _wrong(path: Path, field: str, value, allowed: str) -> ConfigError:
    return ConfigError(str(path), field, value, allowed)


def check_summary(path: Path, s) -> None:
    """summary.json of a run: an object; the text and number keys plots read; every metric the catalogue
    knows of the type of its unit (text, yes/no or a number; null for a figure with no value)."""
    if not isinstance(s, dict):
        raise _wrong(path, "", str(path), f"must hold a JSON object, not {_json_type(s)}; {AGAIN}")
    for key in RUN_TEXT:
        if not isinstance(s.get(key, MISSING), str):
            raise _wrong(path, key, s.get(key, MISSING), f"must be text; {AGAIN}")
    for key in RUN_NUMBERS:
        if key not in s or s[key] is None or not _number(s[key]):
            raise _wrong(path, key, s.get(key, MISSING), f"must be a number; {AGAIN}")
    for key in RUN_NUMBER_MAPS:
        if key in s and not (isinstance(s[key], dict) and all(_number(v) for v in s[key].values())):
            raise _wrong(path, key, s[key], f"must be an object of numbers; {AGAIN}")
    for key, value in s.items():
        if isinstance(value, dict | list) or value is None or not known(key):
            continue
        unit = metric(key).unit
        ok = isinstance(value, str) if unit == "text" else isinstance(value, bool) if unit == "flag" else \
            _number(value)
        if not ok:
            kind = {"text": "text", "flag": "true or false"}.get(unit, "a number")
            raise _wrong(path, key, value, f"must be {kind}; {AGAIN}")


def check_serve_summary(path: Path, s) -> None:
    """A serve folder's summary.json: the keys its pictures and the report read, of the right types."""
    if not isinstance(s, dict):
        raise _wrong(path, "(file)", s, "a JSON object")
    for key in SERVE_TEXT:
        if not isinstance(s.get(key, MISSING), str):
            raise _wrong(path, key, s.get(key, MISSING), f"a text; {AGAIN}")
    for key in SERVE_NUMBERS:
        if not _number(s.get(key, MISSING)):
            raise _wrong(path, key, s.get(key, MISSING), f"a number; {AGAIN}")


def check_sweep_meta(path: Path, meta: dict) -> None:
    axes = meta.get("axes", {})
    if not isinstance(axes, dict):
        raise _wrong(path, "axes", axes, f"must be an object of swept paths; {AGAIN}")
    for name, axis in axes.items():
        if not isinstance(axis, dict) or not isinstance(axis.get("values", []), list) or \
                not isinstance(axis.get("unit") or "", str) or not isinstance(axis.get("tied", []), list):
            raise _wrong(path, f"axes.{name}", axis, 'must be {"unit": text, "values": [...]}; ' + AGAIN)
    for key in ("hardware", "workloads", "set"):
        if not isinstance(meta.get(key, []), list):
            raise _wrong(path, key, meta[key], f"must be a list; {AGAIN}")
    for key in ("name", "mode", "description", "tortoise"):
        if not isinstance(meta.get(key, ""), str):
            raise _wrong(path, key, meta[key], f"must be text; {AGAIN}")
    for key in ("points", "rows", "errors"):
        if not _number(meta.get(key)):
            raise _wrong(path, key, meta[key], f"must be a number; {AGAIN}")


def check_compare_meta(path: Path, meta: dict) -> None:
    for key in ("designs", "workloads"):
        value = meta.get(key, MISSING)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _wrong(path, key, value, f"must be a non-empty list of names; {AGAIN}")
    baseline = meta.get("baseline", meta["designs"][0])
    if baseline not in meta["designs"]:
        raise _wrong(path, "baseline", baseline, f"must be one of the designs ({', '.join(meta['designs'])}); "
                     f"{AGAIN}")
    if not isinstance(meta.get("tortoise", ""), str):
        raise _wrong(path, "tortoise", meta["tortoise"], f"must be text; {AGAIN}")


def _json_type(value) -> str:
    return {list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TortoiseError(f"{path}: cannot read it as JSON ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise TortoiseError(f"{path}: cannot read it as JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _wrong(path, "", str(path), f"must hold a JSON object, not {_json_type(data)}; {AGAIN}")
    return data


def _checked_table(folder: Path, stem: str, columns) -> pd.DataFrame:
    table = _table(folder, stem)
    _check_columns(folder, stem, table, columns)
    return table


def _check_columns(folder: Path, stem: str, table: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TortoiseError(f"{folder}: {stem} table has no {', '.join(missing)} column{'s' * (len(missing) > 1)}; "
                            f"{AGAIN}")
    if stem == "ops":
        for c in columns:
            if c not in OPS_TEXT and not pd.api.types.is_numeric_dtype(table[c]):
                bad = next((v for v in table[c] if not _number(v)), None)
                raise TortoiseError(f"{folder}: ops table column {c} holds {shown_value(bad)}, not numbers; "
                                    f"{AGAIN}")


def _table(folder: Path, stem: str, required: bool = True, run: bool = False) -> pd.DataFrame | None:
    """STEM.csv or STEM.parquet. A run folder holding both (tables of two runs, one of them stale) is refused:
    neither is the right one to read."""
    found = [folder / f"{stem}{suffix}" for suffix in (".csv", ".parquet") if (folder / f"{stem}{suffix}").is_file()]
    if run and len(found) == 2:
        raise TortoiseError(f"{folder}: holds both {stem}.csv and {stem}.parquet, from two runs; run "
                            f"`tortoise run … --out {folder}` again (a run replaces its folder's files) or remove "
                            "the stale one")
    for path in found:
        try:
            if path.suffix == ".csv":
                return pd.read_csv(path, keep_default_na=False, na_values=[""])
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise TortoiseError(f"{path}: cannot read the table ({' '.join(str(exc).split())})") from None
    if required:
        raise TortoiseError(f"{folder}: {stem}.csv (or .parquet) is missing")
    return None


def require_columns(table: pd.DataFrame, columns, source: str, flag: str = "") -> None:
    """One line listing what there is when a column is not in the table."""
    for column in columns:
        if column is not None and column not in table.columns:
            shown = ", ".join(map(str, table.columns))
            raise TortoiseError(f"{source}: {flag + ' ' if flag else ''}{column!r} is not a column; "
                                f"available: {shown}")


def apply_where(table: pd.DataFrame, where: list[str], source: str) -> pd.DataFrame:
    """Rows where every COLUMN equals VALUE; numbers compare as numbers (2.4 matches 2.40)."""
    for item in where:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise TortoiseError(f"--where {item!r}: expected COLUMN=VALUE, e.g. core.mxu.rows=128")
        require_columns(table, [column], source, "--where")
        values = table[column]
        if pd.api.types.is_numeric_dtype(values):
            try:
                number = float(value)
            except ValueError:
                number = None
            keep = np.isclose(values.astype(float), number) if number is not None else values.astype(str) == value
        else:
            keep = values.astype(str) == value
        if not keep.any():
            numeric = pd.api.types.is_numeric_dtype(values)
            present = ", ".join(map(_plain, sorted(values.dropna().unique(), key=None if numeric else str)))
            raise TortoiseError(f"--where {item}: no row has {column} = {value}; it takes {present}")
        table = table[np.asarray(keep)]
    return table.reset_index(drop=True)


def _plain(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def varying(table: pd.DataFrame, columns) -> list[str]:
    """Those of `columns` that take more than one value in the table."""
    return [c for c in columns if c in table.columns and table[c].nunique(dropna=False) > 1]
