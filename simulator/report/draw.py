"""Which picture each kind of folder supports, drawing it, and the file it goes to by default: shared by
`tortoise plot` and the report."""

import re

from simulator.errors import TortoiseError
from simulator.report.folders import Folder

KINDS_BY_FOLDER = {"run": ("roofline", "breakdown", "timeline", "energy"),
                   "sweep": ("line", "heatmap", "pareto", "load"), "compare": ("bars",),
                   "serve": ("cdf", "engine")}
AUTO = {"run": "roofline", "sweep": "line", "compare": "bars", "serve": "cdf"}


def draw(folder: Folder, kind: str, request=None):
    """The figure of `kind` for this folder, or one line saying which kinds the folder supports."""
    from simulator.report.compare_plots import COMPARE_KINDS
    from simulator.report.run_plots import RUN_KINDS
    from simulator.report.serve_plots import SERVE_KINDS, load
    from simulator.report.sweep_plots import SWEEP_KINDS, Request

    kind = AUTO[folder.kind] if kind == "auto" else kind
    if kind not in KINDS_BY_FOLDER[folder.kind]:
        raise TortoiseError(f"plot --kind {kind}: {folder.path} is a {folder.kind} folder; it supports "
                            f"{', '.join(KINDS_BY_FOLDER[folder.kind])}")
    if folder.kind == "run":
        return kind, RUN_KINDS[kind](folder)
    if folder.kind == "serve":
        return kind, SERVE_KINDS[kind](folder)
    request = request or Request()
    return kind, (SWEEP_KINDS | COMPARE_KINDS | {"load": load})[kind](folder, request)


def default_name(kind: str, request=None) -> str:
    """`line_core.mxu.rows_tokens_per_s.png`: the kind and the columns drawn (then `by_` the hue and
    `where_` the filters), so that each picture of a folder has a file of its own. Kinds drawn without
    columns (a run's roofline, a compare's bars) keep their kind's name."""
    parts = [kind]
    if request is not None:
        parts += [c for c in (request.x, request.y, request.z) if c]
        parts += [f"by_{request.hue}"] * bool(request.hue)
        parts += [f"where_{w}" for w in request.where]
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join(parts)).strip("-")
    return name[:200] + ".png"
