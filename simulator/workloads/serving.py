"""A service under load (`scenario.phase: serve`): the `serving:` section of a workload file — where requests
come from, how long they are, how the engine batches them, its KV cache and the SLOs (docs/serving.md).

Lengths and arrivals can be written in the short form the command line takes (`lognormal:1000,0.9`,
`poisson:20`) or as mappings; both become the same typed values here."""

import math
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from simulator.config.schema import Rate
from simulator.config.units import TIME_UNITS

Positive = Annotated[int, Field(strict=True, ge=1)]
MAX_REQUESTS = 10**6  # one run's requests: beyond this a run takes hours (docs/serving.md, limits)
MAX_TOKENS = 2**20  # tokens of one request's prompt or output
MAX_SECONDS = 1e7  # about 116 days: any duration or SLO beyond it is a typo
TIME_HELP = "a duration such as 200 ms, 2 s or 50 us (units: ns, us, µs, ms, s)"


def parse_seconds(value) -> float:
    """Seconds from `200 ms`, `2 s` or a bare number of seconds; finite, ≥ 0 and at most MAX_SECONDS."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        for unit in sorted(TIME_UNITS, key=len, reverse=True):
            if text.endswith(unit):
                seconds = float(text[: -len(unit)].strip().replace("_", "")) * TIME_UNITS[unit]
                break
        else:
            seconds = float(text.replace("_", ""))
    else:
        raise ValueError
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_SECONDS:
        raise ValueError
    return seconds


def _seconds(value):
    try:
        return parse_seconds(value)
    except (ValueError, TypeError):
        raise PydanticCustomError("duration", TIME_HELP + f", between 0 and {MAX_SECONDS:g} s") from None


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _short_form(names: dict[str, tuple[str, ...]], what: str, kinds: tuple[str, ...] = ()):
    """`kind:a,b` → {kind: …, field_a: a, field_b: b}; a bare integer → the `fixed` kind. A mapping keeps its
    form, but an unknown `kind` is named here (with the kinds allowed) rather than by the union."""
    allowed = tuple(names) + kinds

    def parse(value):
        if isinstance(value, int) and not isinstance(value, bool) and "fixed" in names:
            return {"kind": "fixed", "tokens": value}
        if isinstance(value, dict) and value.get("kind") not in allowed:
            raise PydanticCustomError("form", f"{what} needs a kind: one of " + ", ".join(allowed), {})
        if not isinstance(value, str):
            return value
        kind, _, rest = value.partition(":")
        fields = names.get(kind.strip())
        if fields is None:
            raise PydanticCustomError("form", f"{what} kind {kind.strip()!r} is unknown; one of "
                                      + ", ".join(names), {})
        parts = [p.strip() for p in rest.split(",")] if rest.strip() else []
        if len(parts) != len(fields):
            form = f"{kind}:" + ",".join(f.upper() for f in fields) if fields else kind
            raise PydanticCustomError("form", f"{what} {value!r} must be written {form}", {})
        out = {"kind": kind.strip()}
        for field, text in zip(fields, parts, strict=True):
            try:
                out[field] = int(text) if text.lstrip("-").isdigit() else float(text)
            except ValueError:
                out[field] = text
        return out

    return BeforeValidator(parse)


# lengths ----------------------------------------------------------------------------------------------

Length = Annotated[int, Field(strict=True, ge=1, le=MAX_TOKENS)]


class FixedLength(_Strict):
    kind: Literal["fixed"]
    tokens: Length


class UniformLength(_Strict):
    kind: Literal["uniform"]
    low: Length
    high: Length

    @model_validator(mode="after")
    def _ordered(self):
        if self.high < self.low:
            raise PydanticCustomError("order", "high must be ≥ low")
        return self


class LognormalLength(_Strict):
    """ln(tokens) ~ Normal(ln median, sigma), rounded, clipped to [1, max]."""

    kind: Literal["lognormal"]
    median: Annotated[float, Field(gt=0, le=MAX_TOKENS)]
    sigma: Annotated[float, Field(ge=0, le=5)]
    max: Length = MAX_TOKENS


class TableLength(_Strict):
    """An empirical distribution: `tokens` drawn with the given `weights` (default: equally likely)."""

    kind: Literal["table"]
    tokens: Annotated[list[Length], Field(min_length=1)]
    weights: list[Annotated[float, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _matching(self):
        if self.weights is not None and (len(self.weights) != len(self.tokens) or sum(self.weights) <= 0):
            raise PydanticCustomError("weights", "weights must be as many as tokens and not all zero")
        return self


LENGTH_FORMS = {"fixed": ("tokens",), "uniform": ("low", "high"), "lognormal": ("median", "sigma")}
LengthSpec = Annotated[FixedLength | UniformLength | LognormalLength | TableLength, Field(discriminator="kind"),
                       _short_form(LENGTH_FORMS, "length", ("table",))]


# arrivals ---------------------------------------------------------------------------------------------

RequestRate = Annotated[float, Field(gt=0, le=1e6)]  # requests per second


class PoissonArrivals(_Strict):
    kind: Literal["poisson"]
    rate: RequestRate


class GammaArrivals(_Strict):
    """Gamma-distributed gaps with mean 1/rate; `cv` is their coefficient of variation (1 is Poisson, more is
    burstier)."""

    kind: Literal["gamma"]
    rate: RequestRate
    cv: Annotated[float, Field(gt=0, le=100)]


class ConstantArrivals(_Strict):
    kind: Literal["constant"]
    rate: RequestRate


class OfflineArrivals(_Strict):
    """Every request at time 0 (vLLM's `--request-rate inf`, MLPerf Offline)."""

    kind: Literal["offline"]


ARRIVAL_FORMS = {"poisson": ("rate",), "gamma": ("rate", "cv"), "constant": ("rate",), "offline": ()}
ArrivalSpec = Annotated[PoissonArrivals | GammaArrivals | ConstantArrivals | OfflineArrivals,
                        Field(discriminator="kind"), _short_form(ARRIVAL_FORMS, "arrival")]


# the engine ---------------------------------------------------------------------------------------------

class Scheduler(_Strict):
    """How requests are batched, one iteration (forward pass) at a time (docs/serving.md, policies)."""

    policy: Literal["static", "continuous", "chunked", "disaggregated"] = "continuous"
    max_num_seqs: Annotated[int, Field(strict=True, ge=1, le=2**16)] = 256  # sequences in one iteration
    max_batched_tokens: Annotated[int, Field(strict=True, ge=1, le=2**20)] = 8192  # tokens in one iteration
    # chunked: prefill chunks fill what the decodes leave of this many tokens per iteration (Sarathi-Serve)
    token_budget: Annotated[int, Field(strict=True, ge=1, le=2**20)] = 512
    overhead: Seconds = 0.0  # host time per scheduler call (scheduling, sampling, detokenizing)
    overhead_per_sequence: Seconds = 0.0  # more host time per sequence in the call's batch
    # more host time per sequence per step of the call: the output work every step's token takes (appending it,
    # detokenizing, stop checks, streaming), which a multi-step call does not amortize
    overhead_per_sequence_step: Seconds = 0.0
    # share of the engine process's time an in-process front end (an API server sharing its interpreter) takes:
    # every iteration lasts 1 / (1 − share) of its own time
    frontend_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    steps: Annotated[int, Field(strict=True, ge=1, le=64)] = 1  # decode iterations per scheduler call (vLLM
    # multi-step): the host cost is paid once per call and tokens are streamed at its end


def _nonzero(rate):
    if rate.value <= 0:
        raise PydanticCustomError("rate", "must be a bandwidth > 0 (e.g. 31.5 GB/s)")
    return rate


class KVCache(_Strict):
    """A paged KV cache (vLLM PagedAttention): blocks of `block_size` tokens in the HBM left after weights."""

    block_size: Annotated[int, Field(strict=True, ge=1, le=4096)] = 16
    memory_utilization: Annotated[float, Field(gt=0, le=1)] = 0.9  # share of HBM the engine may use
    blocks: Annotated[int, Field(strict=True, ge=1, le=2**31)] | None = None  # override the blocks per chip
    preemption: Literal["recompute", "swap"] = "recompute"
    # host link for swapped blocks: PCIe 4.0 x16, 16 GT/s × 16 lanes × 128/130 ≈ 31.5 GB/s a direction (PCI-SIG)
    swap_bandwidth: Annotated[Rate, Field(validate_default=True), AfterValidator(_nonzero)] = "31.5 GB/s"
    prefix_hit_rate: Annotated[float, Field(ge=0, lt=1)] = 0.0  # share of each prompt found in a prefix cache


class Disaggregation(_Strict):
    """Prefill and decode on separate instances of the workload's parallel plan, KV sent between them."""

    prefill_instances: Positive = 1
    decode_instances: Positive = 1
    # per transfer; default 50 GB/s (one 400 Gb/s NIC)
    kv_bandwidth: Annotated[Rate, AfterValidator(_nonzero)] | None = None
    kv_latency: Seconds = 10e-6


class Speculative(_Strict):
    """Speculative decoding (Leviathan et al. 2023): a draft model proposes `tokens` tokens one decode step at
    a time, the target verifies them in one pass (each sequence a chunk of tokens + 1 queries) and keeps the
    longest accepted prefix plus one token of its own. Each draft token is accepted with probability
    `acceptance`, independently (a seeded draw per sequence and step)."""

    draft: str  # a config.json path (relative to the workload file) or a bundled model name
    tokens: Annotated[int, Field(strict=True, ge=1, le=16)] = 4
    acceptance: Annotated[float, Field(ge=0, le=1)] = 0.7


class SLO(_Strict):
    """Targets a request must all meet to count as good (vLLM `--goodput`); None: not required."""

    ttft: Seconds | None = None
    tpot: Seconds | None = None
    e2e: Seconds | None = None
    percentile: Annotated[float, Field(gt=0, le=100)] = 99.0  # the capacity search asks this percentile to meet them


class Serving(_Strict):
    requests: Annotated[int, Field(strict=True, ge=1, le=MAX_REQUESTS)] = 1000
    seed: Annotated[int, Field(strict=True, ge=0, le=2**32 - 1)] = 0
    arrival: ArrivalSpec = PoissonArrivals(kind="poisson", rate=10.0)
    prompt: LengthSpec = LognormalLength(kind="lognormal", median=512, sigma=0.8, max=4096)
    output: LengthSpec = LognormalLength(kind="lognormal", median=128, sigma=0.8, max=1024)
    trace_file: str | None = None  # JSONL or CSV of arrival_s, prompt_tokens, output_tokens (overrides the above)
    scheduler: Scheduler = Scheduler()
    kv: KVCache = KVCache()
    disaggregation: Disaggregation = Disaggregation()
    speculative: Speculative | None = None  # speculative decoding of every decode (None: off)
    slo: SLO = SLO()
    # grid: token counts, group sizes and key widths rounded up to 32 steps per octave before they are timed
    # (simulator/serving/cost.py); exact: every shape timed as it is (slower)
    timing: Literal["grid", "exact"] = "grid"
    trace_iterations: Annotated[int, Field(strict=True, ge=0, le=100_000)] = 200  # Perfetto: the first N
