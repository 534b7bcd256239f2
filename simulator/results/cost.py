"""What a run costs and what it gets per dollar and per watt, and the chip's die area (docs/cost.md).

For a run on `chips` chips of `seconds`, with each chip costing `per_hour` (hardware/cost.py):

    usd_per_s               = per_hour × chips / 3600
    cost_usd                = usd_per_s × seconds
    cost_per_million_tokens = usd_per_s × seconds per token × 10⁶   (seconds per token = 1 / tokens_per_s)
    tokens_per_dollar       = tokens_per_s / usd_per_s              (perf/$)
    tokens_per_s_per_w      = tokens_per_s / average_power_w        (perf/W, the run's average power over
                                                                     every chip used, from the energy model)

A training step also has cost_per_step (usd_per_s × step_s); its tokens are the tokens trained. A serving
run pays for every chip of its instances from the first arrival to the last token, and splits that cost
between input and output tokens by where the engine's time went (`serving_cost_figures`).
"""

from simulator.config.cost import RETICLE_MM2
from simulator.hardware.area import DieArea, die_area
from simulator.hardware.chip import Chip
from simulator.hardware.cost import HourlyCost, hourly_cost


def area_figures(chip: Chip) -> tuple[dict, list[str]]:
    """die_area_mm2 and its parts, whether the die exceeds the reticle, and a note when a figure is missing."""
    area: DieArea | None = die_area(chip.config)
    if area is None:
        return {}, []
    out = {"die_area_source": area.how}
    if area.mxu_mm2 is not None:
        out["mxu_area_mm2"] = area.mxu_mm2
    if area.sram_mm2 is not None:
        out["sram_area_mm2"] = area.sram_mm2
    if area.die_mm2 is None:
        return out, [f"die area not modelled: configs/area/nodes.yaml has no {area.missing} (docs/cost.md)"]
    return out | {"die_area_mm2": area.die_mm2, "die_exceeds_reticle": area.exceeds_reticle}, []


def _hourly_figures(hourly: HourlyCost, chips: int) -> tuple[dict, list[str], float]:
    out = {"cost_kind": hourly.kind, "cost_per_chip_hour": hourly.per_hour}
    notes = []
    if hourly.kind == "owned":
        out |= {"capex_per_chip_hour": hourly.capex, "electricity_per_chip_hour": hourly.energy}
        if hourly.watts is None:
            notes.append("cost: no electricity charged (this run has no energy model; set cost.power)")
        elif hourly.watts_from != "cost.power":
            notes.append(f"cost.power = {hourly.watts:.0f} W per chip, {hourly.watts_from}")
    return out, notes, hourly.per_hour * chips / 3600


def cost_figures(chip: Chip, summary: dict, chips: int) -> tuple[dict, list[str]]:
    """The cost, perf/$, perf/W and area keys of a run's summary (`tortoise run`: inference, a training step,
    an op graph), and the notes its assumptions gain. `chips`: the chips the run uses."""
    out, notes = area_figures(chip)
    tokens_per_s, watts = summary.get("tokens_per_s"), summary.get("average_power_w")
    if tokens_per_s and watts:
        out["tokens_per_s_per_w"] = tokens_per_s / watts
    cost = chip.config.cost
    if cost is None:
        return out, notes
    hourly = hourly_cost(cost, watts / chips if watts else None)
    figures, more, usd_per_s = _hourly_figures(hourly, chips)
    out |= figures
    out["cost_usd"] = usd_per_s * summary["seconds"]
    if "step_s" in summary:
        out["cost_per_step"] = usd_per_s * summary["step_s"]
    if tokens_per_s:
        out["cost_per_million_tokens"] = usd_per_s * (1 / tokens_per_s) * 1e6
        out["tokens_per_dollar"] = tokens_per_s / usd_per_s
    return out, notes + more


def input_share(rows, instances: int) -> list[float]:
    """Per instance, the share of its engine time spent on input (prompt) tokens: each iteration's time split
    between its prefill tokens and its decode tokens in proportion to their numbers (a pure prefill or decode
    iteration goes wholly to one side). An instance that ran nothing takes the mean of the others."""
    busy, prefill = [0] * instances, [0.0] * instances
    for r in rows:
        length, inputs, outputs = r.end - r.start, r.prefill_tokens, r.decodes * r.steps
        if inputs + outputs:
            busy[r.instance] += length
            prefill[r.instance] += length * inputs / (inputs + outputs)
    shares = [p / b if b else None for p, b in zip(prefill, busy, strict=True)]
    known = [s for s in shares if s is not None]
    mean = sum(known) / len(known) if known else 0.0
    return [mean if s is None else s for s in shares]


def serving_cost_figures(chip: Chip, summary: dict, rows, instances: int) -> tuple[dict, list[str]]:
    """Cost figures of a served load: every chip of the `instances` (summary's chips_used) is paid for the
    service's duration; each instance's share goes to input and output tokens by `input_share`."""
    out, notes = area_figures(chip)
    cost = chip.config.cost
    if cost is None:
        return out, notes
    chips, duration = summary["chips_used"], summary["duration_s"]
    prompt, output = summary["prompt_tokens"], summary["output_tokens"]
    figures, more, usd_per_s = _hourly_figures(hourly_cost(cost), chips)
    total = usd_per_s * duration
    on_input = sum(total / instances * share for share in input_share(rows, instances))
    tokens = prompt + output
    out |= figures | {"cost_usd": total, "cost_per_million_tokens": usd_per_s * (duration / tokens) * 1e6,
                      "tokens_per_dollar": tokens / total, "cost_input_share": on_input / total}
    if prompt:
        out["cost_per_million_input_tokens"] = on_input / prompt * 1e6
    if output:
        out["cost_per_million_output_tokens"] = (total - on_input) / output * 1e6
    return out, notes + more


def _usd(x: float) -> str:
    """`$2.99`, `$0.0209`, `$1,234`: four significant digits below $1,000."""
    return f"${x:,.0f}" if abs(x) >= 1000 else f"${x:.4g}"


def _rate_text(s: dict) -> str:
    chips = s.get("chips_used", 1) or 1
    how = s["cost_kind"]
    if how == "owned":
        how += (f": {_usd(s['capex_per_chip_hour'])} amortization + {_usd(s['electricity_per_chip_hour'])} "
                "electricity")
    return f"at {_usd(s['cost_per_chip_hour'])} per chip-hour ({how}) × {chips:,} chip{'s' if chips > 1 else ''}"


def cost_lines(s: dict) -> list[str]:
    """The terminal lines of a summary's cost, perf/$, perf/W and die area; none for what it lacks."""
    lines = []
    per_watt = f"{s['tokens_per_s_per_w']:.4g} tokens/s per W" if "tokens_per_s_per_w" in s else ""
    if "cost_per_chip_hour" in s:
        if "cost_per_million_input_tokens" in s:
            what = (f"{_usd(s['cost_per_million_input_tokens'])} per million input tokens, "
                    f"{_usd(s.get('cost_per_million_output_tokens', 0))} per million output tokens "
                    f"({_usd(s['cost_per_million_tokens'])} over all tokens; {100 * s['cost_input_share']:.0f} % "
                    "of the cost on input)")
        elif "cost_per_step" in s:
            what = (f"{_usd(s['cost_per_step'])} per step, {_usd(s['cost_per_million_tokens'])} per million tokens "
                    "trained")
        elif "cost_per_million_tokens" in s:
            what = f"{_usd(s['cost_per_million_tokens'])} per million tokens"
        else:
            what = f"{_usd(s['cost_usd'])} for the run"
        perf = [f"{s['tokens_per_dollar']:,.0f} tokens per dollar"] if "tokens_per_dollar" in s else []
        lines.append(f"  cost             {what} {_rate_text(s)}" + "".join(f"; {p}" for p in perf + [per_watt] if p))
    elif per_watt:
        lines.append(f"  perf/W           {per_watt} (no cost: the hardware file has no cost: section)")
    if "die_area_mm2" in s:
        parts = ""
        if "mxu_area_mm2" in s:
            parts = f" (MXUs {s['mxu_area_mm2']:,.1f} + SRAM {s['sram_area_mm2']:,.1f} + other " \
                    f"{s['die_area_mm2'] - s['mxu_area_mm2'] - s['sram_area_mm2']:,.1f} mm²)"
        fits = "exceeds" if s["die_exceeds_reticle"] else "within"
        lines.append(f"  die area         {s['die_area_mm2']:,.1f} mm², {s['die_area_source']}{parts}: {fits} the "
                     f"{RETICLE_MM2} mm² reticle limit")
    return lines
