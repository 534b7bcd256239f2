"""The metric catalogue: every metric a run summary carries, named once.

Each entry says what a plot axis or a table header calls the metric (`label`), the unit of the stored value
(`unit`: s, B, J, fraction, …), the unit it is shown in (`shown`, with the factor between them), and which
direction is better (`lower`, `higher` or `none`: a property of the workload or the hardware, a share, a
text). `tortoise compare`, sweep plots, compare plots and `tortoise report` all read it, so a metric is
labelled, scaled and judged the same way everywhere; docs/metrics.md is generated from it.

Families cover the keys whose names carry a part (`time_share.<group>`, `bound.<group>`,
`energy_<part>_j`, `bytes_<traffic>`, `<phase>_mfu`, `parallel.<axis>`, …). A name the catalogue does not
know gets a neutral entry (its name as label, no unit, no direction), so a new summary key never breaks
a table; tests/results/test_catalogue.py makes sure every key a real run produces has a proper entry.

Pure Python: no pandas or matplotlib here.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

LOWER, HIGHER, NONE = "lower", "higher", "none"
DIRECTIONS = (LOWER, HIGHER, NONE)

# Stored unit → shown unit → factor (stored value × factor = shown value). A metric shown in its own unit
# has factor 1; every other pair a metric uses must be here, so no scale is typed by hand.
CONVERSIONS: dict[tuple[str, str], float] = {
    ("s", "ms"): 1e3, ("s", "µs"): 1e6, ("s", "ns"): 1e9,
    ("B", "TB"): 1e-12, ("B", "GB"): 1e-9, ("B", "MB"): 1e-6, ("B", "KB"): 1e-3,
    ("J", "mJ"): 1e3, ("J", "µJ"): 1e6, ("J", "nJ"): 1e9,
    ("Hz", "GHz"): 1e-9,
    ("FLOP", "TFLOP"): 1e-12, ("MAC", "TMAC"): 1e-12,
    ("fraction", "%"): 100.0,
    ("count", "billion"): 1e-9,
}
# Automatic prefixes (run plots pick the one that keeps the largest value between 1 and 1000).
LADDERS: dict[str, tuple[str, ...]] = {"s": ("s", "ms", "µs", "ns"), "J": ("J", "mJ", "µJ", "nJ"),
                                       "B": ("TB", "GB", "MB", "KB", "B")}
# Units that a heading does not repeat in parentheses: numbers of things, text, yes/no, plain ratios.
UNITLESS = ("", "count", "text", "flag", "ratio")

ENERGY_PARTS = {"mac": "MAC", "vector": "vector", "sram": "SRAM", "l2": "L2", "hbm": "HBM", "link": "link",
                "static": "static"}


def _factor(unit: str, shown: str) -> float:
    if unit == shown:
        return 1.0
    if (unit, shown) not in CONVERSIONS:
        raise ValueError(f"no conversion from {unit} to {shown}; add it to CONVERSIONS")
    return CONVERSIONS[unit, shown]


@dataclass(frozen=True)
class Metric:
    name: str  # the summary key (flat_row column)
    label: str  # what an axis or a table header says, without the unit
    unit: str = ""  # unit of the stored value: s, B, J, W, fraction, tokens/s, TFLOP/s, cycles, count, text, …
    better: str = NONE  # lower, higher or none
    shown: str = ""  # the unit values are shown in ("" = the stored unit)
    scale: float = field(init=False)  # stored value × scale = the value in the shown unit

    def __post_init__(self):
        if self.better not in DIRECTIONS:
            raise ValueError(f"{self.name}: better must be one of {DIRECTIONS}, not {self.better!r}")
        object.__setattr__(self, "shown", self.shown or self.unit)
        object.__setattr__(self, "scale", _factor(self.unit, self.shown))

    @property
    def display_unit(self) -> str:
        """The shown unit as a heading prints it; "" for counts, text, flags and plain ratios."""
        return "" if self.shown in UNITLESS else self.shown

    @property
    def heading(self) -> str:
        """`TPOT (ms)`, `MFU (%)`; no parentheses when there is no unit or the label already names it
        (`tokens/s per user`, `compute cycles`)."""
        unit = self.display_unit
        return f"{self.label} ({unit})" if unit and unit not in self.label.split() else self.label

    def display(self, value):
        """The stored value in the shown unit (works on numbers and on numpy/pandas arrays)."""
        return value * self.scale if self.scale != 1.0 else value

    def text(self, value, unit: bool = True) -> str:
        """Display text: `5.123 ms` (or `5.123` with unit=False, under a heading that names the unit);
        `—` for a missing value, `yes`/`no` for flags, text as it is."""
        number = _number(value)
        if number is None:
            if isinstance(value, bool):
                return "yes" if value else "no"
            return "—" if value is None or isinstance(value, float) else str(value)
        shown = number_text(self.display(number))
        return f"{shown} {self.display_unit}" if unit and self.display_unit else shown

    def prefers(self, a, b) -> bool:
        """Whether value `a` is strictly better than `b` (never, for a metric with no direction)."""
        a, b = _number(a), _number(b)
        if a is None or b is None or self.better == NONE:
            return False
        return a < b if self.better == LOWER else a > b


@dataclass(frozen=True)
class Family:
    """Keys named `prefix<part>suffix`, e.g. `energy_<part>_j`; `label` has `{}` for the part's name."""

    pattern: str  # e.g. "energy_<part>_j"
    label: str  # e.g. "{} energy"
    unit: str = ""
    better: str = NONE
    shown: str = ""
    names: Mapping[str, str] = field(default_factory=dict)  # part → how the label names it (mac → MAC)

    @property
    def prefix(self) -> str:
        return self.pattern.split("<", 1)[0]

    @property
    def suffix(self) -> str:
        return self.pattern.rsplit(">", 1)[1]

    def match(self, name: str) -> Metric | None:
        p, s = self.prefix, self.suffix
        if not (name.startswith(p) and name.endswith(s)) or len(name) <= len(p) + len(s):
            return None
        part = name[len(p):len(name) - len(s)]
        return Metric(name, self.label.format(self.names.get(part, part)), self.unit, self.better, self.shown)

    def example(self) -> Metric:
        """The family as one row of the docs table: the pattern, and the label with the part left open."""
        return Metric(self.pattern, self.label.format(self.pattern[len(self.prefix):len(self.pattern)
                                                                   - len(self.suffix)]), self.unit, self.better,
                      self.shown)


def _entries(*rows) -> dict[str, Metric]:
    return {row[0]: Metric(*row) for row in rows}


# Exact names, grouped as the summaries produce them. (name, label, unit, better, shown unit)
METRICS: dict[str, Metric] = _entries(
    # what ran
    ("workload", "workload", "text"), ("chip", "chip", "text"), ("runtime", "runtime profile", "text"),
    ("model", "model", "text"),
    ("model_description", "model description", "text"), ("phase", "phase", "text"),
    ("weights_dtype", "weights dtype", "text"), ("activations_dtype", "activations dtype", "text"),
    ("kv_cache_dtype", "KV cache dtype", "text"), ("gemm_dtypes", "GEMM dtypes", "text"),
    ("peak_dtype", "peak dtype", "text"), ("assumptions", "assumed", "text"),
    ("fused_attention", "fused attention", "flag"), ("layer_scaling", "layer scaling", "text"),
    ("params", "parameters", "count", NONE, "billion"), ("active_params", "active parameters", "count", NONE,
                                                         "billion"),
    ("batch", "batch", "count"), ("prompt", "prompt", "tokens"), ("context", "context", "tokens"),
    ("output_tokens", "output tokens", "tokens"), ("moe_imbalance", "MoE imbalance", "ratio"),
    ("layers", "layers", "count"), ("layers_simulated", "layers simulated", "count"),
    ("passes", "passes", "count"), ("ops", "ops", "count"),
    # time
    ("cycles", "cycles", "cycles", LOWER), ("seconds", "latency", "s", LOWER, "ms"),
    ("ttft_s", "TTFT", "s", LOWER, "ms"), ("tpot_s", "TPOT", "s", LOWER, "ms"),
    ("e2e_s", "end-to-end latency", "s", LOWER),
    ("compute_cycles", "compute cycles", "cycles", LOWER), ("stall_cycles", "memory-stall cycles", "cycles", LOWER),
    ("overhead_cycles", "overhead cycles", "cycles", LOWER), ("roofline_cycles", "roofline floor", "cycles"),
    ("roofline_bound", "roofline bound", "text"),
    # throughput and utilization
    ("tokens_per_s", "tokens/s", "tokens/s", HIGHER), ("tokens_per_s_per_user", "tokens/s per user", "tokens/s",
                                                       HIGHER),
    ("decode_tokens_per_s", "decode tokens/s", "tokens/s", HIGHER),
    ("mfu", "MFU", "fraction", HIGHER, "%"), ("mbu", "MBU", "fraction", HIGHER, "%"),
    ("mxu_utilization", "MXU utilization", "fraction", HIGHER, "%"),
    ("roofline_fraction", "share of roofline", "fraction", HIGHER, "%"),
    ("flops", "work", "FLOP", NONE, "TFLOP"), ("macs", "MACs", "MAC", NONE, "TMAC"),
    ("achieved_tflops", "achieved", "TFLOP/s", HIGHER), ("peak_tflops", "peak", "TFLOP/s", HIGHER),
    ("arithmetic_intensity", "arithmetic intensity", "FLOP/B"),  # op and op-group tables
    # hardware
    ("clock_hz", "clock", "Hz", NONE, "GHz"), ("hbm_capacity", "HBM capacity", "B", HIGHER, "GB"),
    ("hbm_bandwidth_tb_s", "HBM bandwidth", "TB/s", HIGHER), ("chip_cores", "cores per chip", "count"),
    # memory (per chip) and traffic
    ("memory_required", "HBM footprint", "B", LOWER, "GB"), ("memory_weights", "HBM for weights", "B", LOWER, "GB"),
    ("memory_kv_cache", "HBM for KV cache", "B", LOWER, "GB"),
    ("memory_activations", "HBM for activations", "B", LOWER, "GB"),
    ("model_bytes", "bytes that must move", "B", NONE, "GB"),
    # energy
    ("energy_j", "energy", "J", LOWER), ("energy_per_token_j", "energy per token", "J", LOWER, "mJ"),
    ("average_power_w", "average power", "W", LOWER),
    # training (results/training.py)
    ("global_batch", "global batch", "count"), ("micro_batch", "micro-batch", "count"),
    ("sequence", "sequence length", "tokens"), ("microbatches", "micro-batches per chip", "count"),
    ("recompute", "recomputation", "text"), ("optimizer", "optimizer", "text"), ("zero", "ZeRO stage", "count"),
    ("grad_dtype", "gradient dtype", "text"),
    ("reduce_dtype", "gradient reduction dtype", "text"),
    ("step_s", "step time", "s", LOWER, "ms"), ("tokens_per_step", "tokens per step", "tokens"),
    ("tokens_per_s_per_chip", "tokens/s per chip", "tokens/s", HIGHER),
    ("samples_per_s", "samples/s", "samples/s", HIGHER),
    ("model_flops", "model work", "FLOP", NONE, "TFLOP"), ("hfu", "HFU", "fraction", HIGHER, "%"),
    ("forward_share", "forward share", "fraction", NONE, "%"),
    ("backward_share", "backward share", "fraction", NONE, "%"),
    ("optimizer_share", "optimizer share", "fraction", LOWER, "%"),
    ("memory_gradients", "HBM for gradients", "B", LOWER, "GB"),
    ("memory_optimizer_states", "HBM for optimizer states", "B", LOWER, "GB"),
    ("memory_buffers", "HBM for buffers", "B", LOWER, "GB"),
    # systems (results/system.py)
    ("chips", "chips in the system", "count"), ("chips_used", "chips used", "count"),
    ("topology", "topology", "text"), ("collective_algorithms", "collective algorithms", "text"),
    ("parallel.sequence_parallel", "sequence parallel", "flag"),
    ("parallel.layout", "partition layout", "text"), ("parallel.attention", "attention split", "text"),
    ("compute_s", "compute time", "s", LOWER, "ms"), ("memory_stall_s", "memory-stall time", "s", LOWER, "ms"),
    ("overhead_s", "overhead time", "s", LOWER, "ms"), ("exposed_comm_s", "exposed communication", "s", LOWER, "ms"),
    ("idle_s", "idle time", "s", LOWER, "ms"), ("overlapped_comm_s", "overlapped communication", "s", NONE, "ms"),
    ("compute_share", "compute share", "fraction", NONE, "%"),
    ("memory_stall_share", "memory-stall share", "fraction", LOWER, "%"),
    ("overhead_share", "overhead share", "fraction", LOWER, "%"),
    ("exposed_comm_share", "exposed communication share", "fraction", LOWER, "%"),
    ("idle_share", "idle share", "fraction", LOWER, "%"),
    ("link_bytes", "link traffic", "B", LOWER, "MB"),
    ("max_link_utilization", "busiest link utilization", "fraction", NONE, "%"),
    ("collective_groups", "collective groups", "count"),
    ("collective_groups_simulated", "collective groups simulated", "count"),
    ("blocks", "stage blocks", "count"), ("blocks_simulated", "stage blocks simulated", "count"),
    # serving (serving/metrics.py, serving/service.py, serving/capacity.py)
    ("scheduler", "batching policy", "text"), ("arrival", "arrival process", "text"),
    ("request_rate", "offered load", "req/s"), ("seed", "seed", "count"), ("instances", "instances", "count"),
    ("requests", "requests", "count"), ("completed", "requests completed", "count"),
    ("duration_s", "duration", "s", NONE), ("requests_per_s", "throughput", "req/s", HIGHER),
    ("input_tokens_per_s", "input tokens/s", "tokens/s", HIGHER),
    ("output_tokens_per_s", "output tokens/s", "tokens/s", HIGHER),
    ("total_tokens_per_s", "total tokens/s", "tokens/s", HIGHER),
    ("prompt_tokens", "prompt tokens", "tokens"), ("mean_prompt_tokens", "mean prompt", "tokens"),
    ("mean_output_tokens", "mean output", "tokens"),
    ("mean_in_system", "requests in the system", "count", LOWER), ("preemptions", "preemptions", "count", LOWER),
    ("requests_preempted", "requests preempted", "count", LOWER),
    ("slo_attainment", "SLO attainment", "fraction", HIGHER, "%"),
    ("goodput_requests_per_s", "goodput", "req/s", HIGHER),
    ("slo_ttft_s", "TTFT limit", "s", NONE, "ms"), ("slo_tpot_s", "TPOT limit", "s", NONE, "ms"),
    ("slo_e2e_s", "E2E limit", "s", NONE, "ms"),
    ("iterations", "iterations", "count"), ("mean_batch", "mean batch", "count", HIGHER),
    ("engine_busy_share", "engine busy", "fraction", NONE, "%"),
    ("kv_blocks", "KV blocks", "count", HIGHER), ("kv_block_tokens", "KV block size", "tokens"),
    ("kv_block_bytes", "KV block bytes", "B", NONE, "MB"),
    ("kv_peak_share", "KV cache peak", "fraction", NONE, "%"),
    ("kv_mean_share", "KV cache mean", "fraction", NONE, "%"),
    ("host_overhead_s", "host cost per call", "s", LOWER, "ms"),
    ("host_overhead_per_sequence_s", "host cost per sequence", "s", LOWER, "ms"),
    ("host_overhead_per_sequence_step_s", "host cost per sequence per step", "s", LOWER, "µs"),
    ("host_frontend_share", "in-process front end's share of the host", "fraction", LOWER, "%"),
    ("scheduler_steps", "decode steps per call", "count"), ("timing", "iteration timing", "text"),
    ("parts_timed", "iteration parts timed", "count"), ("parts_reused", "iteration parts reused", "count"),
    ("capacity_requests_per_s", "capacity", "req/s", HIGHER), ("capacity_probes", "capacity probes", "count"),
    ("offline_requests_per_s", "offline throughput", "req/s", HIGHER), ("slo_percentile", "SLO percentile", "ratio"),
    ("capacity_tolerance", "capacity tolerance", "fraction", NONE, "%"),
    ("capacity_output_tokens_per_s", "output tokens/s at capacity", "tokens/s", HIGHER),
    ("capacity_goodput_requests_per_s", "goodput at capacity", "req/s", HIGHER),
    ("speculative_draft", "draft model", "text"), ("speculative_tokens", "draft tokens per step", "count"),
    ("speculative_acceptance", "draft acceptance", "fraction", HIGHER, "%"),
    ("tokens_per_decode_step", "expected tokens per decode step", "count", HIGHER),
    ("requests_clipped", "requests clipped to the context", "count", LOWER),
    # cost, perf/$, perf/W and die area (results/cost.py, docs/cost.md)
    ("cost_kind", "cost basis", "text"), ("cost_per_chip_hour", "cost per chip-hour", "USD/h", LOWER),
    ("capex_per_chip_hour", "amortization per chip-hour", "USD/h", LOWER),
    ("electricity_per_chip_hour", "electricity per chip-hour", "USD/h", LOWER),
    ("cost_usd", "cost of the run", "USD", LOWER), ("cost_per_step", "cost per step", "USD", LOWER),
    ("cost_per_million_tokens", "cost per million tokens", "USD", LOWER),
    ("cost_per_million_input_tokens", "cost per million input tokens", "USD", LOWER),
    ("cost_per_million_output_tokens", "cost per million output tokens", "USD", LOWER),
    ("cost_input_share", "cost share of input tokens", "fraction", NONE, "%"),
    ("tokens_per_dollar", "tokens per dollar", "tokens/USD", HIGHER),
    ("tokens_per_s_per_w", "tokens/s per watt", "tokens/J", HIGHER),
    ("die_area_mm2", "die area", "mm²", LOWER), ("mxu_area_mm2", "MXU area", "mm²", LOWER),
    ("sram_area_mm2", "SRAM area", "mm²", LOWER), ("die_area_source", "die area from", "text"),
    ("die_exceeds_reticle", "die exceeds the reticle", "flag"),
)
LATENCIES = {"ttft": "TTFT", "tpot": "TPOT", "itl": "ITL", "e2e": "end-to-end latency", "queue": "queueing delay"}

AXES = {"tp": "TP", "cp": "CP", "pp": "PP", "ep": "EP", "dp": "DP", "embedding": "tied-embedding",
        "chips": "explicit-chips", "tp_x": "TP-x", "tp_yz": "TP-yz", "tp_xy": "TP-xy",
        "tp_z": "TP-z"}  # collectives' axes (tp_*: sub-groups of a tp grid, workloads/layouts.py)
TRAFFIC = {"hbm_read": "HBM read", "hbm_write": "HBM write", "l2_read": "L2 read", "sram_read": "SRAM read",
           "sram_write": "SRAM write", "chip_sram_read": "shared SRAM read", "chip_sram_write": "shared SRAM write"}
PARALLEL = {"tp": "TP degree", "pp": "PP degree", "ep": "EP degree", "dp": "DP degree", "sp": "SP degree",
            "cp": "CP degree", "microbatches": "micro-batches"}

# Tried in order after the exact names.
FAMILIES = (
    Family("time_share.<group>", "time share of {}", "fraction", NONE, "%"),
    Family("group_s.<group>", "{} time", "s", LOWER, "ms"),  # derived by compare: share × seconds
    Family("bound.<group>", "{} bound", "text"),
    Family("energy_<part>_j", "{} energy", "J", LOWER, names=ENERGY_PARTS),
    Family("bytes_<traffic>", "{} bytes", "B", LOWER, "GB", names=TRAFFIC),
    Family("<phase>_mfu", "{} MFU", "fraction", HIGHER, "%"),
    Family("<phase>_mbu", "{} MBU", "fraction", HIGHER, "%"),
    Family("parallel.<axis>", "{}", "count", names=PARALLEL),
    Family("peak_tflops_by_dtype.<dtype>", "{} peak per chip", "TFLOP/s", HIGHER),
    Family("gemm_mac_share.<dtype>", "{} share of GEMM MACs", "fraction", NONE, "%"),
    Family("exposed_comm_<axis>_s", "exposed {} communication", "s", LOWER, "ms", names=AXES),
    Family("overlapped_comm_<axis>_s", "overlapped {} communication", "s", NONE, "ms", names=AXES),
    *(Family(f"{key}_<stat>_s", f"{label} {{}}", "s", LOWER, "ms") for key, label in LATENCIES.items()),
)


def metric(name: str) -> Metric:
    """The catalogue entry of a summary key; a neutral one (label = name, no unit, no direction) for a
    name the catalogue does not know."""
    return METRICS.get(name) or _family(name) or Metric(name, name)


def known(name: str) -> bool:
    """Whether the catalogue has an entry (exact or by family) for the name."""
    return name in METRICS or _family(name) is not None


def _family(name: str) -> Metric | None:
    for family in FAMILIES:
        found = family.match(name)
        if found is not None:
            return found
    return None


def _number(x) -> int | float | None:
    """The value as a number (numpy scalars included); None for missing values, NaN, text and flags."""
    if x is None or isinstance(x, bool | str):
        return None
    if isinstance(x, int):
        return x
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def number_text(x) -> str:
    """Four significant digits below 1,000; whole numbers with thousands separators above."""
    if isinstance(x, int):
        return f"{x:,}"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}" if abs(x) < 1e3 else f"{x:,.0f}"


def best(name: str, values: Mapping[str, object]) -> list[str]:
    """The keys (designs) whose value is best for the metric, ties included; none when the metric has no
    direction or fewer than two values are numbers (nothing to choose between)."""
    m = metric(name)
    numbers = {k: v for k, v in values.items() if _number(v) is not None}
    if m.better == NONE or len(numbers) < 2:
        return []
    top = min(numbers.values()) if m.better == LOWER else max(numbers.values())
    return [k for k, v in numbers.items() if not m.prefers(top, v)]


def auto_unit(unit: str, largest: float) -> tuple[str, float]:
    """The prefix of `unit` (s, J, B) that keeps the largest value between 1 and 1000: ('ms', 1e3) for
    0.0042 s. The smallest prefix when even that is below 1."""
    ladder = LADDERS[unit]
    for shown in ladder:
        factor = _factor(unit, shown)
        if largest * factor >= 1:
            return shown, factor
    return ladder[-1], _factor(unit, ladder[-1])


def markdown_table() -> str:
    """The catalogue as the Markdown table docs/metrics.md holds (tests keep the two equal)."""
    lines = ["| key | label | unit | shown as | better |", "|---|---|---|---|---|"]
    rows = list(METRICS.values()) + [f.example() for f in FAMILIES]
    for m in rows:
        shown = m.display_unit
        label = m.label.replace("<", "&lt;").replace(">", "&gt;")  # a family's <part>, not an HTML tag
        lines.append(f"| `{m.name}` | {label} | {m.unit or '—'} | {shown or '—'} | {m.better} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m simulator.results.catalogue: the table docs/metrics.md holds
    print(markdown_table(), end="")
