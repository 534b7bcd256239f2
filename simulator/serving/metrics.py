"""Serving figures as the vLLM serving benchmark defines them (../shared/reference/serving.md §1):

- TTFT: first token − arrival (queueing and the whole prefill included);
- TPOT: (last token − first token) ÷ (output tokens − 1), one value per request with more than one token;
- ITL: every gap between successive streamed chunks, pooled over requests (a multi-step call streams its
  tokens as one chunk);
- E2E: last token − arrival; queueing delay: first admission − arrival;
- throughput: completed requests (input, output tokens) ÷ duration, the duration running from the first
  arrival to the last token;
- goodput: requests meeting every SLO given ÷ duration; SLO attainment: their share.
Percentiles are numpy's (linear interpolation), over the pooled values.
"""

import numpy as np

from simulator.serving.book import Book
from simulator.workloads.serving import SLO

STATS = (("mean", None), ("p50", 50), ("p90", 90), ("p99", 99))


def _stats(name: str, values: np.ndarray) -> dict:
    if not len(values):
        return {f"{name}_{stat}_s": None for stat, _ in STATS}
    return {f"{name}_{stat}_s": float(values.mean() if q is None else np.percentile(values, q)) for stat, q in STATS}


def per_request(book: Book, clock_hz: float) -> dict[str, np.ndarray]:
    """Seconds per request (NaN where a figure does not apply: TPOT of one-token outputs)."""
    arrival = np.asarray(book.arrival, dtype=float)
    first, finish = np.asarray(book.first, dtype=float), np.asarray(book.finish, dtype=float)
    output = np.asarray(book.output, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(output > 1, (finish - first) / (output - 1), np.nan)
    return {"arrival_s": arrival / clock_hz, "scheduled_s": np.asarray(book.scheduled, dtype=float) / clock_hz,
            "first_token_s": first / clock_hz, "finish_s": finish / clock_hz,
            "ttft_s": (first - arrival) / clock_hz, "tpot_s": tpot / clock_hz, "e2e_s": (finish - arrival) / clock_hz,
            "queue_s": (np.asarray(book.scheduled, dtype=float) - arrival) / clock_hz}


def good(times: dict[str, np.ndarray], slo: SLO) -> np.ndarray:
    """Requests meeting every SLO given (a one-token request has no TPOT and meets that one)."""
    ok = np.ones(len(times["ttft_s"]), dtype=bool)
    for field, key in (("ttft", "ttft_s"), ("tpot", "tpot_s"), ("e2e", "e2e_s")):
        limit = getattr(slo, field)
        if limit is not None:
            values = times[key]
            ok &= np.isnan(values) | (values <= limit)
    return ok


def serving_figures(book: Book, clock_hz: float, slo: SLO) -> dict:
    times = per_request(book, clock_hz)
    start, end = float(times["arrival_s"].min()), float(times["finish_s"].max())
    duration = max(end - start, 1.0 / clock_hz)
    prompt, output = book.prompt, book.output
    ok = good(times, slo)
    figures = {
        "requests": len(book), "completed": book.finished, "duration_s": duration,
        "requests_per_s": book.finished / duration, "input_tokens_per_s": float(prompt.sum()) / duration,
        "output_tokens_per_s": book.tokens_out / duration,
        "total_tokens_per_s": (float(prompt.sum()) + book.tokens_out) / duration,
        "prompt_tokens": int(prompt.sum()), "output_tokens": book.tokens_out,
        "mean_prompt_tokens": float(prompt.mean()), "mean_output_tokens": float(output.mean()),
    }
    figures |= _stats("ttft", times["ttft_s"])
    figures |= _stats("tpot", times["tpot_s"][~np.isnan(times["tpot_s"])])
    figures |= _stats("itl", book.all_gaps().astype(float) / clock_hz)
    figures |= _stats("e2e", times["e2e_s"])
    figures |= _stats("queue", times["queue_s"])
    figures |= {
        "mean_in_system": float(times["e2e_s"].sum()) / duration,  # Little's L, time-averaged over the run
        "preemptions": int(book.preemptions.sum()), "requests_preempted": int((book.preemptions > 0).sum()),
        "slo_attainment": float(ok.mean()), "goodput_requests_per_s": float(ok.sum()) / duration,
    }
    for field in ("ttft", "tpot", "e2e"):
        limit = getattr(slo, field)
        if limit is not None:
            figures[f"slo_{field}_s"] = limit
    return figures
