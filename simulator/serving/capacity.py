"""The highest request rate a service sustains within its SLOs (`tortoise serve --capacity`).

A rate meets the SLOs when the chosen percentile (serving.slo.percentile) of each latency with a limit is
at most that limit. The search first serves the requests all at once (offline) to find the saturated
throughput, then bisects the Poisson (or gamma/constant) rate between 0 and that throughput: each probe
is a whole serving run with the same seed, so the answer is deterministic, and every probe reuses the
iteration timings of the ones before (only the loop runs again). It stops when the bracket is within
`tolerance` of the rate found."""

from dataclasses import dataclass

import numpy as np

from simulator.errors import ConfigError
from simulator.serving.metrics import per_request
from simulator.serving.service import ServeResult, simulate_service
from simulator.workloads.serving import OfflineArrivals, PoissonArrivals, Serving

LIMITS = (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E"))


@dataclass(frozen=True)
class Probe:
    rate: float
    meets: bool
    figures: dict  # the percentile of each latency with a limit, and throughput


@dataclass(frozen=True)
class CapacityResult:
    rate: float | None  # req/s; None when even the lowest probed rate misses the SLOs
    probes: list[Probe]
    offline: ServeResult
    best: ServeResult | None  # the run at `rate`
    summary: dict


def meets(result: ServeResult, serving: Serving) -> tuple[bool, dict]:
    """Whether the run's latencies at the SLO percentile are within every limit given."""
    slo = serving.slo
    times = per_request(result.loop.book, result.chip.clock_hz)
    figures, ok = {}, True
    for field, _ in LIMITS:
        limit = getattr(slo, field)
        if limit is None:
            continue
        values = times[f"{field}_s"]
        values = values[~np.isnan(values)]
        value = float(np.percentile(values, slo.percentile)) if len(values) else 0.0
        figures[f"{field}_p{slo.percentile:g}_s"] = value
        ok &= value <= limit
    figures["output_tokens_per_s"] = result.summary["output_tokens_per_s"]
    return bool(ok), figures


def find_capacity(chip, workload, serving: Serving, tolerance: float = 0.02, max_probes: int = 16,
                  progress=None) -> CapacityResult:
    if all(getattr(serving.slo, field) is None for field, _ in LIMITS):
        raise ConfigError(workload.source, "serving.slo", "(no limit)",
                          "at least one of ttft, tpot, e2e for a capacity search "
                          "(e.g. --slo ttft_p99=2s,tpot_p99=200ms)")
    arrival = serving.arrival if not isinstance(serving.arrival, OfflineArrivals) else PoissonArrivals(
        kind="poisson", rate=1.0)
    offline = simulate_service(chip, workload, serving.model_copy(update={"arrival": OfflineArrivals(kind="offline")}))
    cost = offline.cost
    high = offline.summary["requests_per_s"] * 1.05  # nothing sustains more than the saturated rate
    low, best, best_rate, probes = 0.0, None, None, []

    def probe(rate: float):
        run = simulate_service(chip, workload, serving.model_copy(update={"arrival": arrival.model_copy(
            update={"rate": rate})}), cost=cost)
        ok, figures = meets(run, serving)
        probes.append(Probe(rate, ok, figures))
        if progress:
            progress(len(probes), max_probes)
        return ok, run

    while len(probes) < max_probes:
        rate = (low + high) / 2
        ok, run = probe(rate)
        if ok:
            low, best, best_rate = rate, run, rate
        else:
            high = rate
        if best_rate is not None and high - low <= tolerance * best_rate:
            break
    summary = {"capacity_requests_per_s": best_rate, "capacity_probes": len(probes),
               "offline_requests_per_s": offline.summary["requests_per_s"],
               "slo_percentile": serving.slo.percentile, "capacity_tolerance": tolerance}
    if best is not None:
        summary |= {"capacity_output_tokens_per_s": best.summary["output_tokens_per_s"],
                    "capacity_goodput_requests_per_s": best.summary["goodput_requests_per_s"]}
    return CapacityResult(best_rate, probes, offline, best, summary)
