"""Runs as rows of scalars: the flat row a sweep stores per point and a comparison per design, and the
column arithmetic results do over lists of row dicts inside a run instead of pandas.

The pandas tables of a result are built from the same row dicts, and only when someone reads them, so
the arithmetic here must give what the tables would to the last bit: a column becomes the numpy array
of the dtype pandas would infer, float sums go through numpy's pairwise summation as a column's `.sum()`
does, and a descending sort orders ties exactly as `DataFrame.sort_values(ascending=False)` does.
"""

import operator

import numpy as np

SKIPPED = ("layer_scaling",)  # the same sentence on every row


def records(table) -> list[dict]:
    """The rows of a table: a list of row dicts as it is, a pandas DataFrame as its records."""
    return table.to_dict("records") if hasattr(table, "to_dict") else table


def column(rows: list[dict], name: str) -> np.ndarray:
    """One column as the numpy array a DataFrame of these rows would hold (int64, float64, …)."""
    return np.array([row[name] for row in rows])


def column_sum(rows: list[dict], name: str, weight: str | None = None):
    """`table[name].sum()`, or `(table[name] * table[weight]).sum()`: over integers exactly (in Python, which
    is quicker on short columns and equals int64 arithmetic short of overflow), otherwise through numpy."""
    values = [row[name] for row in rows]
    weights = [row[weight] for row in rows] if weight else []
    if set(map(type, values)) | set(map(type, weights)) <= {int}:
        return sum(map(operator.mul, values, weights)) if weight else sum(values)
    array = np.array(values)
    return (array * np.array(weights) if weight else array).sum()


def descending(values) -> list[int]:
    """Positions in the order `sort_values(ascending=False)` leaves them (pandas' nargsort with its default
    quicksort, NaNs last): ties keep whatever order that sort gives, so printed tables stay as they were."""
    items = np.asarray(values)
    mask = np.isnan(items) if items.dtype.kind == "f" else np.zeros(len(items), dtype=bool)
    index = np.arange(len(items))
    kept, kept_index = items[~mask][::-1], index[~mask][::-1]
    order = kept_index[kept.argsort(kind="quicksort")][::-1]
    return [*order.tolist(), *np.nonzero(mask)[0].tolist()]


def flat_row(summary: dict, groups=None) -> dict:
    """The summary's scalars; nested mappings become `outer.inner` columns (e.g. `time_share.attention`),
    lists become comma-joined text; with the op-group breakdown (a table or its row dicts), `bound.<group>`
    says what limits each group."""
    row: dict = {}
    _flatten(summary, "", row)
    if groups is not None:
        for g in records(groups):
            row[f"bound.{g['group'] or 'none'}"] = g["bound"]
    return row


def _flatten(value, prefix: str, row: dict) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if key in SKIPPED:
            continue
        if isinstance(item, dict):
            _flatten(item, f"{name}.", row)
        elif isinstance(item, list | tuple):
            row[name] = ",".join(map(str, item))
        elif hasattr(item, "item"):  # numpy scalar
            row[name] = item.item()
        else:
            row[name] = item
