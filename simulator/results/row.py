"""One run as one flat row of scalars: what a sweep stores per point and a comparison per design."""

import pandas as pd

SKIPPED = ("layer_scaling",)  # the same sentence on every row


def flat_row(summary: dict, groups: pd.DataFrame | None = None) -> dict:
    """The summary's scalars; nested mappings become `outer.inner` columns (e.g. `time_share.attention`),
    lists become comma-joined text; with the op-group breakdown, `bound.<group>` says what limits each group."""
    row: dict = {}
    _flatten(summary, "", row)
    if groups is not None:
        for g in groups.itertuples():
            row[f"bound.{g.group or 'none'}"] = g.bound
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
