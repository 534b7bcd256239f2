"""Every copy of a repeated op on the run's clock: llm_table lists a layer's ops once with `repeat`
copies `copy_cycles` apart; plots and traces that draw time need each copy in its place."""

import numpy as np
import pandas as pd


def expand_copies(table: pd.DataFrame, max_rows: int | None = None) -> pd.DataFrame:
    """One row per op copy, with `copy` numbering it and start/end shifted to where it ran. Tables
    without `repeat` (hand-written op graphs) come back unchanged, with copy = 0. With `max_rows`, only
    the earliest copies up to that many rows are kept (the rest are dropped from the end of time)."""
    if "repeat" not in table.columns or table.empty:
        return table.assign(copy=0)
    repeat = table["repeat"].to_numpy(dtype=np.int64)
    index = np.repeat(np.arange(len(table)), repeat)
    copy = np.concatenate([np.arange(n) for n in repeat])
    out = table.iloc[index].reset_index(drop=True)
    shift = copy * out["copy_cycles"].to_numpy(dtype=np.int64)
    out = out.assign(copy=copy, start=out["start"] + shift, end=out["end"] + shift)
    out = out.sort_values(["start", "index"], kind="stable").reset_index(drop=True)
    return out if max_rows is None else out.head(max_rows)
