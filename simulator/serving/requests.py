"""The requests of a serving run: drawn from the `serving:` section with a seeded generator, or replayed
from a file. Same section and seed, same requests, on any machine (numpy's PCG64 stream is stable).

A request file is JSONL (one object per line) or CSV with a header; the fields are `arrival_s` (seconds from
the start), `prompt_tokens`, `output_tokens`, an optional `id`, and optionally `prefix` (an id shared by
requests whose prompts begin alike, e.g. one system prompt) with `prefix_tokens` (how many tokens they share).
Rows are taken in arrival order (ties in file order)."""

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import ConfigError
from simulator.workloads.serving import (
    MAX_REQUESTS,
    MAX_SECONDS,
    MAX_TOKENS,
    ConstantArrivals,
    FixedLength,
    GammaArrivals,
    LognormalLength,
    OfflineArrivals,
    PoissonArrivals,
    Serving,
    UniformLength,
)

MAX_FILE_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Requests:
    """Parallel arrays, one entry per request, in arrival order."""

    ids: tuple[str, ...]
    arrival_s: np.ndarray  # float64 seconds
    prompt: np.ndarray  # int64 tokens
    output: np.ndarray  # int64 tokens (≥ 1: the first comes from the prefill)
    prefix: np.ndarray | None = None  # int64 prefix group per request (−1: none), from a request file
    prefix_tokens: np.ndarray | None = None  # int64 tokens of the prompt the group shares

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tokens_out(self) -> int:
        return int(self.output.sum())


def _lengths(spec, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, FixedLength):
        return np.full(n, spec.tokens, dtype=np.int64)
    if isinstance(spec, UniformLength):
        return rng.integers(spec.low, spec.high + 1, size=n, dtype=np.int64)
    if isinstance(spec, LognormalLength):
        drawn = np.rint(np.exp(rng.normal(math.log(spec.median), spec.sigma, size=n)))
        return np.clip(drawn, 1, spec.max).astype(np.int64)
    weights = np.asarray(spec.weights if spec.weights is not None else [1.0] * len(spec.tokens), dtype=float)
    return np.asarray(spec.tokens, dtype=np.int64)[rng.choice(len(spec.tokens), size=n, p=weights / weights.sum())]


def _arrivals(spec, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(spec, OfflineArrivals):
        return np.zeros(n)
    if isinstance(spec, ConstantArrivals):
        return np.arange(n) / spec.rate
    if isinstance(spec, PoissonArrivals):
        gaps = rng.exponential(1.0 / spec.rate, size=n)
    elif isinstance(spec, GammaArrivals):
        shape = 1.0 / spec.cv**2  # mean shape·scale = 1/rate, cv = 1/√shape
        gaps = rng.gamma(shape, 1.0 / (spec.rate * shape), size=n)
    else:  # pragma: no cover - the schema admits no other kind
        raise AssertionError(spec)
    gaps[0] = 0.0  # the first request opens the run
    return np.cumsum(gaps)


def generate(serving: Serving) -> Requests:
    """The section's requests: arrivals, then prompt lengths, then output lengths, from one stream."""
    rng = np.random.default_rng(serving.seed)
    n = serving.requests
    arrival = _arrivals(serving.arrival, n, rng)
    prompt = _lengths(serving.prompt, n, rng)
    output = _lengths(serving.output, n, rng)
    return Requests(tuple(str(i) for i in range(n)), arrival, prompt, output)


def load_requests(serving: Serving, source: str, base: Path) -> Requests:
    """The section's `trace_file` (relative to the workload file, or as written), else `generate`."""
    if serving.trace_file is None:
        requests = generate(serving)
        last = float(requests.arrival_s[-1]) if len(requests) else 0.0
        if not last <= MAX_SECONDS:  # a rate of 1e-300 req/s: the arrivals overflow the clock
            raise ConfigError(source, "serving.arrival", serving.arrival.kind,
                              f"its rate puts the last of {len(requests)} arrivals at {last:.3g} s, past "
                              f"{MAX_SECONDS:.0e} s; raise the rate or lower serving.requests")
        return requests
    path = Path(serving.trace_file)
    if not path.is_file() and (base / path).is_file():
        path = base / path
    return read_request_file(path, source)


def _rows(path: Path, where: str):
    if not path.is_file():
        raise ConfigError(where, "serving.trace_file", str(path), "an existing JSONL or CSV file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(str(path), "(file)", f"{path.stat().st_size} bytes", "a request file of at most 256 MiB")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "(file)", f"byte {exc.start}", "UTF-8 text (JSONL or CSV)") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        for number, row in enumerate(reader, start=2):
            yield number, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, object_pairs_hook=_one_each)
        except _Twice as exc:
            raise ConfigError(f"{path}:{number}", str(exc), "(twice)", "give each field once per line") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}", "(line)", line[:60],
                              f"one JSON object per line ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}", "(line)", line[:60], "a JSON object per line")
        yield number, row


class _Twice(ValueError):
    """A key written twice in one JSON object."""


def _one_each(pairs: list) -> dict:
    row = {}
    for key, value in pairs:
        if key in row:
            raise _Twice(key)
        row[key] = value
    return row


def _number(row: dict, field: str, where: str, integer: bool, low: float, high: float):
    value = row.get(field)
    if value is None or value == "":
        raise ConfigError(where, field, "(missing)", "every row needs arrival_s, prompt_tokens and output_tokens")
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high or (integer and number != int(number)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(where, field, str(value)[:40], f"{kind} from {low:g} to {high:g}")
    return int(number) if integer else number


def read_request_file(path: Path, source: str = "") -> Requests:
    """Requests from a JSONL or CSV file, sorted by arrival (stable)."""
    ids, arrival, prompt, output, prefix, shared = [], [], [], [], [], []
    groups: dict[str, int] = {}
    for number, row in _rows(path, source or str(path)):
        where = f"{path}:{number}"
        arrival.append(_number(row, "arrival_s", where, False, 0, MAX_SECONDS))
        prompt.append(_number(row, "prompt_tokens", where, True, 1, MAX_TOKENS))
        output.append(_number(row, "output_tokens", where, True, 1, MAX_TOKENS))
        ids.append(str(row.get("id", len(ids))))
        group = row.get("prefix")
        if group in (None, ""):
            prefix.append(-1)
            shared.append(0)
        else:
            prefix.append(groups.setdefault(str(group), len(groups)))
            shared.append(_number(row, "prefix_tokens", where, True, 1, prompt[-1]))
        if len(ids) > MAX_REQUESTS:
            raise ConfigError(str(path), "(rows)", f"more than {MAX_REQUESTS}", f"at most {MAX_REQUESTS} requests")
    if not ids:
        raise ConfigError(str(path), "(rows)", "none", "at least one request")
    order = np.argsort(np.asarray(arrival), kind="stable")
    return Requests(tuple(ids[i] for i in order), np.asarray(arrival)[order],
                    np.asarray(prompt, dtype=np.int64)[order], np.asarray(output, dtype=np.int64)[order],
                    np.asarray(prefix, dtype=np.int64)[order] if groups else None,
                    np.asarray(shared, dtype=np.int64)[order] if groups else None)
