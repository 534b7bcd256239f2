"""The terminal view of a served load: what ran, throughput, the latency distributions, SLOs, the engine
and its KV cache, and what was assumed (host cost, timing grid)."""

from simulator.results.cost import cost_lines
from simulator.results.output import assumed_lines, format_bytes, format_pct, format_time
from simulator.serving.cost import GRID

ARRIVALS = {"poisson": "Poisson", "gamma": "gamma", "constant": "constant", "offline": "all at once (offline)"}
POLICIES = {"static": "static batching", "continuous": "continuous batching", "chunked": "chunked prefill",
            "disaggregated": "prefill/decode disaggregation"}


def _dist(s: dict, name: str) -> str:
    if s.get(f"{name}_mean_s") is None:
        return "n/a (no request has two tokens)"
    return "   ".join(f"{stat} {format_time(s[f'{name}_{stat}_s'])}" for stat in ("mean", "p50", "p90", "p99"))


def _slo_line(s: dict) -> str:
    limits = [f"{label} ≤ {format_time(s[key])}" for key, label in (("slo_ttft_s", "TTFT"), ("slo_tpot_s", "TPOT"),
                                                                      ("slo_e2e_s", "E2E")) if key in s]
    if not limits:
        return "  SLOs             none set (serving.slo)"
    return (f"  SLOs             {', '.join(limits)}: {format_pct(s['slo_attainment'])} of requests meet them; "
            f"goodput {s['goodput_requests_per_s']:,.2f} req/s")


def serve_summary_text(s: dict) -> str:
    rate = f" at {s['request_rate']:g} req/s" if s.get("request_rate") else ""
    chips = s["chips_used"]
    lines = [
        f"{s['workload']} on {s['chip']} ({chips} chip{'s' if chips > 1 else ''}, runtime {s['runtime']}, "
        f"{s['instances']} instance"
        f"{'s' if s['instances'] > 1 else ''}, tp={s['parallel.tp']}"
        + (f", ep={s['parallel.ep']}" if s['parallel.ep'] > 1 else "") + f"): {s['model']}, "
        f"{POLICIES[s['scheduler']]}; weights {s['weights_dtype']}, KV cache {s['kv_cache_dtype']}",
        f"  requests         {s['requests']:,}, {ARRIVALS[s['arrival']]}{rate}, seed {s['seed']}; prompts "
        f"{s['mean_prompt_tokens']:,.0f} tokens and outputs {s['mean_output_tokens']:,.0f} on average",
        f"  served           {s['completed']:,} in {format_time(s['duration_s'])}: {s['requests_per_s']:,.2f} req/s, "
        f"{s['input_tokens_per_s']:,.0f} input + {s['output_tokens_per_s']:,.0f} output tokens/s",
        f"  TTFT             {_dist(s, 'ttft')}",
        f"  TPOT             {_dist(s, 'tpot')}",
        f"  ITL              {_dist(s, 'itl')}",
        f"  end to end       {_dist(s, 'e2e')}",
        f"  queueing         {_dist(s, 'queue')}",
        _slo_line(s),
        f"  engine           {s['iterations']:,} iterations, mean batch {s['mean_batch']:,.1f} sequences, busy "
        f"{format_pct(s['engine_busy_share'])} of the time; {s['mean_in_system']:,.1f} requests in the system on "
        "average",
        f"  KV cache         {s['kv_blocks']:,} blocks of {s['kv_block_tokens']} tokens per instance "
        f"({format_bytes(s['kv_blocks'] // s['parallel.ep'] * s['kv_block_bytes'])} per chip): peak "
        f"{format_pct(s['kv_peak_share'])}, "
        f"mean {format_pct(s['kv_mean_share'])}; {s['preemptions']:,} preemptions of "
        f"{s['requests_preempted']:,} requests",
        f"  HBM per chip     weights {format_bytes(s['memory_weights'])}, workspace "
        f"{format_bytes(s['memory_activations'])}, KV cache the rest of serving.kv.memory_utilization",
        f"  host cost        {format_time(s['host_overhead_s']) if s['host_overhead_s'] else '0'} per scheduler call + "
        f"{format_time(s['host_overhead_per_sequence_s']) if s['host_overhead_per_sequence_s'] else '0'} per sequence"
        + (f" + {format_time(s['host_overhead_per_sequence_step_s'])} per sequence-step"
           if s['host_overhead_per_sequence_step_s'] else "")
        + (f", front end {format_pct(s['host_frontend_share'])} of the host" if s['host_frontend_share'] else "")
        + f", {s['scheduler_steps']} decode step(s) per call (serving.scheduler)",
        f"  timing           {s['timing']}"
        + (f" (shapes rounded up to {GRID} steps per octave)" if s["timing"] == "grid" else "")
        + f": {s['parts_timed']:,} iteration parts timed by the engine, {s['parts_reused']:,} reused",
    ] + cost_lines(s) + assumed_lines(s)
    return "\n".join(lines)
