"""What bounds a run, from where its time went: compute, memory stall, exposed communication, per-op
overhead and idle time (pipeline bubbles). The largest share names the bottleneck; a second share within
5 points of it is named beside it. This replaces the op roofline's `roofline_bound` in the report, which
classifies ops by their FLOP/byte floors and so says "memory" for a run that waits 35 % of its time on the
network."""

import math
from collections.abc import Mapping

# (summary key of the share, key of the cycles for single-chip summaries, name in a sentence, bound word)
PARTS = (("compute_share", "compute_cycles", "compute", "compute"),
         ("memory_stall_share", "stall_cycles", "memory stall", "memory"),
         ("exposed_comm_share", None, "exposed communication", "communication"),
         ("overhead_share", "overhead_cycles", "per-op overhead", "overhead"),
         ("idle_share", None, "idle (pipeline bubbles)", "idle"))
CLOSE = 0.05  # a runner-up within 5 points of the largest share is named too


def _number(value) -> float | None:
    if value is None or isinstance(value, bool | str):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def time_split(row: Mapping) -> dict[str, float]:
    """Share of the run's time per part (names as in PARTS), from a summary or a sweep/compare row: the
    system summaries' `*_share` keys, else one chip's compute/stall/overhead cycles over its cycles.
    Empty when the row has neither."""
    if _number(row.get("compute_share")) is not None:
        split = {name: _number(row.get(share)) or 0.0 for share, _, name, _ in PARTS}
    else:
        cycles = _number(row.get("cycles"))
        if not cycles or _number(row.get("compute_cycles")) is None:
            return {}
        split = {name: (_number(row.get(key)) or 0.0) / cycles for _, key, name, _ in PARTS if key}
    return {k: v for k, v in split.items() if v > 0 or k == "compute"}


def bound(split: Mapping[str, float]) -> str:
    """`communication`, `memory`, `compute`, `overhead`, `idle`, or two of them (`communication / memory`)
    when the runner-up is within 5 points; "" without a split."""
    if not split:
        return ""
    words = {name: word for _, _, name, word in PARTS}
    ranked = sorted(split.items(), key=lambda kv: (-kv[1], list(words).index(kv[0])))
    out = [words[ranked[0][0]]]
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < CLOSE:
        out.append(words[ranked[1][0]])
    return " / ".join(out)


def bound_sentence(split: Mapping[str, float]) -> str:
    """`communication / memory (exposed communication 34.9 % of the time, memory stall 33.9 %, per-op
    overhead 16.1 %, compute 15.1 %)`."""
    if not split:
        return "not known (the summary has no time split)"
    ranked = sorted(split.items(), key=lambda kv: -kv[1])
    parts = [f"{name} {100 * share:.1f} %" for name, share in ranked]
    return f"{bound(split)} ({parts[0]} of the time" + "".join(f", {p}" for p in parts[1:]) + ")"
