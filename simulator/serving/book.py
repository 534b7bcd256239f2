"""What the serving loop knows about every request: its lengths, how far it has got, and when things
happened to it (cycles). Numpy arrays indexed by request number: every iteration updates all its decoding
sequences at once (serving/loop.py), and the rare per-request events (an admission, a prefill's end, a
preemption) index them one by one."""

from dataclasses import dataclass, field

import numpy as np

from simulator.serving.requests import Requests

NEVER = -1


def _zeros(n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64)


def _never(n: int) -> np.ndarray:
    return np.full(n, NEVER, dtype=np.int64)


@dataclass
class Book:
    prompt: np.ndarray
    output: np.ndarray
    arrival: np.ndarray  # cycles
    generated: np.ndarray  # output tokens so far (the first comes from the prefill)
    target: np.ndarray  # tokens the current prefill must reach (the prompt, or after a recompute preemption
    # prompt + generated)
    computed: np.ndarray  # of them, done (cached prefix tokens included)
    cached: np.ndarray  # of them, found in the prefix cache (never computed)
    scheduled: np.ndarray  # first admitted
    first: np.ndarray  # first token
    finish: np.ndarray  # last token
    last: np.ndarray  # latest token, for the gaps
    preemptions: np.ndarray
    instance: np.ndarray  # where it was served (the decode instance if disaggregated)
    prefix: np.ndarray | None = None  # prefix group per request (−1: none)
    prefix_tokens: np.ndarray | None = None
    warm: set = field(default_factory=set)  # prefix groups some request has prefilled (their blocks stay cached)
    gaps: list = field(default_factory=list)  # arrays (and single values) of inter-chunk gaps, pooled (cycles)
    finished: int = 0
    tokens_out: int = 0

    @classmethod
    def of(cls, requests: Requests, clock_hz: float) -> "Book":
        n = len(requests)
        arrival = np.asarray([round(float(t) * clock_hz) for t in requests.arrival_s], dtype=np.int64)
        prompt = np.asarray(requests.prompt, dtype=np.int64)
        return cls(prompt, np.asarray(requests.output, dtype=np.int64), arrival, _zeros(n), prompt.copy(), _zeros(n),
                   _zeros(n), _never(n), _never(n), _never(n), _never(n), _zeros(n), _zeros(n), requests.prefix,
                   requests.prefix_tokens)

    def __len__(self) -> int:
        return len(self.prompt)

    def prefilling(self, rid: int) -> bool:
        return self.computed[rid] < self.target[rid]

    def context(self, rid: int) -> int:
        """Tokens in the KV cache before this iteration's token of a decoding request."""
        return int(self.prompt[rid] + self.generated[rid] - 1)

    def emit(self, rid: int, tokens: int, at: int) -> bool:
        """`tokens` more output tokens of `rid` streamed at cycle `at`; True if that finishes it."""
        if self.first[rid] == NEVER:
            self.first[rid] = at
        elif at > self.last[rid]:
            self.gaps.append(at - int(self.last[rid]))
        self.last[rid] = at
        self.generated[rid] += tokens
        self.tokens_out += tokens
        if self.generated[rid] >= self.output[rid]:
            self.finish[rid] = at
            self.finished += 1
            return True
        return False

    def emit_all(self, rids: np.ndarray, tokens: np.ndarray, at: int) -> np.ndarray:
        """Every decoding request of `rids` streams its `tokens` at `at` (none is at its first token); the
        requests this finishes."""
        self.gaps.append(at - self.last[rids])
        self.last[rids] = at
        self.generated[rids] += tokens
        self.tokens_out += int(tokens.sum())
        done = rids[self.generated[rids] >= self.output[rids]]
        self.finish[done] = at
        self.finished += len(done)
        return done

    def all_gaps(self) -> np.ndarray:
        return np.concatenate([np.atleast_1d(np.asarray(g, dtype=np.int64)) for g in self.gaps]) if self.gaps \
            else np.zeros(0, dtype=np.int64)
