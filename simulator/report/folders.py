"""Read a folder written by `run --out`, `sweep --out` or `compare --out` and say which it is, so that plots
and the report work from files alone (the formats are in docs/plots.md and docs/sweeps.md)."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.errors import TortoiseError


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
    path = Path(path)
    if not path.is_dir():
        raise TortoiseError(f"{path}: no such folder (give a folder written by `tortoise run --out`, "
                            "`tortoise sweep --out` or `tortoise compare --out`)")
    meta_path = path / "meta.json"
    if meta_path.is_file():
        meta = _json(meta_path)
        kind = meta.get("kind")
        if kind == "sweep":
            return Folder(path, "sweep", meta, _table(path, "results"))
        if kind == "compare":
            return Folder(path, "compare", meta, _table(path, "compare"))
        raise TortoiseError(f"{meta_path}: kind = {kind!r}: expected 'sweep' or 'compare'")
    if (path / "summary.json").is_file():
        tables = {stem: t for stem in ("ops", "breakdown", "stages", "links", "timeline")
                  if (t := _table(path, stem, required=stem == "ops")) is not None}
        return Folder(path, "run", _json(path / "summary.json"), None, tables)
    raise TortoiseError(f"{path}: not a run, sweep or compare folder (it has no summary.json or meta.json)")


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TortoiseError(f"{path}: cannot read it as JSON ({exc})") from None


def _table(folder: Path, stem: str, required: bool = True) -> pd.DataFrame | None:
    for suffix, read in ((".csv", pd.read_csv), (".parquet", pd.read_parquet)):
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            try:
                return read(path, keep_default_na=False, na_values=[""]) if suffix == ".csv" else read(path)
            except (OSError, ValueError) as exc:
                raise TortoiseError(f"{path}: cannot read the table ({exc})") from None
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
