"""An iteration as a policy decides it, and the KV-cache moves every policy makes the same way."""

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from simulator.serving.book import Book
from simulator.serving.kv import BlockPool


@dataclass
class Plan:
    decodes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # one token each step
    prefills: list[tuple[int, int]] = field(default_factory=list)  # (request, prompt tokens computed now)
    padded: tuple[int, int, int] | None = None  # static batching: (sequences, new, context) of one uniform group
    steps: int = 1  # decode iterations in this scheduler call
    swapped_blocks: int = 0  # blocks copied to or from host memory before the iteration

    @property
    def sequences(self) -> int:
        return self.padded[0] if self.padded else len(self.decodes) + len(self.prefills)


@dataclass
class Queues:
    """One instance's requests: waiting for a prefill, running (admission order), swapped out to the host,
    and (a decode instance of a disaggregated service) handed over with their KV cache."""

    waiting: deque = field(default_factory=deque)
    running: list = field(default_factory=list)
    swapped: deque = field(default_factory=deque)
    incoming: deque = field(default_factory=deque)
    batch: list = field(default_factory=list)  # static batching: the batch in flight
    batch_step: int = 0


def preempt(victim: int, queues: Queues, pool: BlockPool, book: Book, mode: str, plan: Plan) -> None:
    """Take `victim` out of the running set: recompute drops its cache (it waits, first in line, to prefill
    its prompt and what it has generated); swap copies its blocks to the host."""
    queues.running.remove(victim)
    book.preemptions[victim] += 1
    if mode == "swap" and not book.prefilling(victim):
        plan.swapped_blocks += pool.release(victim)
        queues.swapped.append(victim)
        return
    pool.release(victim)
    book.target[victim] = book.prompt[victim] + book.generated[victim]
    book.computed[victim] = book.cached[victim] = 0
    queues.waiting.appendleft(victim)


def decoding(queues: Queues, book: Book) -> np.ndarray:
    """The running requests past their prefill, in admission order."""
    running = np.asarray(queues.running, dtype=np.int64)
    return running[book.computed[running] >= book.target[running]]


def reserve_decodes(queues: Queues, pool: BlockPool, book: Book, mode: str, plan: Plan, steps: int) -> np.ndarray:
    """Blocks for `steps` more tokens of every decoding request, in admission order; when there are not
    enough for all, they are granted one by one and the latest admitted request is preempted (vLLM),
    possibly the one that asked."""
    rids = decoding(queues, book)
    if not len(rids):
        return rids
    left = book.output[rids] - book.generated[rids]
    want = book.prompt[rids] + book.generated[rids] - 1 + np.minimum(steps, left)
    if pool.grow_all(rids, want):
        return rids
    granted = []
    running = queues.running
    for rid, tokens in zip(rids.tolist(), want.tolist(), strict=True):
        if rid not in running:  # preempted for an earlier request
            continue
        while not pool.grow(rid, tokens):
            victim = running[-1]
            preempt(victim, queues, pool, book, mode, plan)
            if victim == rid:
                break
        else:
            granted.append(rid)
    return np.asarray(granted, dtype=np.int64)


def swap_in(queues: Queues, pool: BlockPool, book: Book, plan: Plan, limit: int) -> None:
    """Swapped requests come back first, in the order they left, while blocks and sequence slots allow."""
    while queues.swapped and len(queues.running) < limit:
        rid = queues.swapped[0]
        blocks = pool.need(rid, book.context(rid) + 1)
        if not pool.grow(rid, book.context(rid) + 1):
            return
        plan.swapped_blocks += blocks
        queues.running.append(queues.swapped.popleft())


def admit_cached(rid: int, book: Book, hit_rate: float) -> None:
    """A new request's prompt prefix found in the prefix cache — a share `hit_rate` of every prompt, or the
    tokens its prefix group shares once a request of the group has prefilled them — is never computed."""
    if book.computed[rid] or book.generated[rid]:
        return
    cached = int(book.prompt[rid] * hit_rate)
    if book.prefix is not None and book.prefix[rid] in book.warm:
        cached = max(cached, int(book.prefix_tokens[rid]))
    cached = min(cached, int(book.target[rid]) - 1)
    if cached > 0:
        book.cached[rid] = book.computed[rid] = cached
