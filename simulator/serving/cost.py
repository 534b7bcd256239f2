"""What one serving iteration costs, in cycles of the replica's chips, from the engine.

An iteration's cycles are its body's (embedding and every layer but the attention cores, on all its
tokens), its head's (logits for the sequences that need one) and one attention core per group
(workloads/iteration.py says why the sum is exact). Each part is lowered, mapped and run through the
engine once per shape and cached: an iteration whose parts were seen before costs three dict lookups.

Timing `exact` times every part at its own shape. Timing `grid` (the default) first rounds, upward, the
numbers that make almost every iteration's shape new — token counts, decode-group sizes and key widths —
to a grid of `GRID` steps per octave (exact up to 2·GRID; above, at most 1/GRID more). Since every part's
cycles grow with those numbers, the grid can only make an iteration slower, by at most what 1/GRID more
work costs; tests/serving/test_cost.py bounds the effect on whole runs. A decode group whose sequences share
one context is timed at that context; one request at a time below 128 tokens, and static batching of equal
requests, are exact in both modes.
"""

from dataclasses import dataclass, field

import numpy as np

from simulator.engine.network import collective_cycles
from simulator.engine.program import run_program
from simulator.hardware.chip import Chip
from simulator.mapping.placement import Placement
from simulator.mapping.program import map_passes
from simulator.workloads.iteration import core_pass, dense_pass
from simulator.workloads.model import Model
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario

GRID = 32  # steps per octave


def on_grid(value: int) -> int:
    """`value` rounded up to a multiple of 2^(floor(log2 value)) / GRID: itself up to 2·GRID − 1."""
    step = max(1, (1 << (value.bit_length() - 1)) // GRID)
    return -(-value // step) * step


def _exact(value: int) -> int:
    return value


@dataclass
class IterationCost:
    """Cycles of iterations on one replica (`parallel`'s tp × ep chips of `placement`, or one chip)."""

    chip: Chip
    model: Model
    scenario: Scenario
    parallel: Parallel
    placement: Placement | None = None
    timing: str = "grid"  # grid | exact
    _parts: dict = field(default_factory=dict)
    lookups: int = 0  # parts asked for
    timed: int = 0  # parts the engine ran (the rest were reused)

    def __post_init__(self):
        self._round = on_grid if self.timing == "grid" else _exact

    def _part(self, key: tuple, lower) -> int:
        self.lookups += 1
        found = self._parts.get(key)
        if found is None:
            self.timed += 1
            program = map_passes(self.chip, [lower()], self.placement, collective_cycles)
            found = self._parts[key] = run_program(program)[0].cycles
        return found

    def body(self, tokens: int) -> int:
        """The embedding and every layer's ops before and after its attention core, on `tokens` tokens."""
        tokens = self._round(tokens)
        return self._part(("body", tokens), lambda: dense_pass(self.model, self.scenario, self.parallel, tokens, 0))

    def head(self, sequences: int) -> int:
        """The final norm, LM head and sampling for `sequences` logits (not rounded: at most max_num_seqs)."""
        return self._part(("head", sequences),
                          lambda: dense_pass(self.model, self.scenario, self.parallel, 0, sequences))

    def core(self, sequences: int, new: int, context: int) -> int:
        """One attention group over every layer: `sequences` sequences of `new` queries after `context` keys."""
        if sequences > 1 or new > 1:
            sequences, new = self._round(sequences), self._round(new)
        context = self._round(context) if context else 0
        return self._part(("core", sequences, new, context),
                          lambda: core_pass(self.model, self.scenario, self.parallel, sequences, new, context))

    def decode_core(self, contexts) -> int:
        """The decode group (an array of contexts): one batched product at their mean (exact when they are
        all equal)."""
        contexts = np.asarray(contexts, dtype=np.int64)
        n, total, first = len(contexts), int(contexts.sum()), int(contexts[0])
        if first * n == total and int(contexts.min()) == first:
            rounded = self._round(n)
            return self._part(("core", rounded, 1, first),
                              lambda: core_pass(self.model, self.scenario, self.parallel, rounded, 1, first))
        return self.core(n, 1, -(-total // n))

    def verify(self, decodes, tokens: int, prefills: list[tuple[int, int, bool]]) -> int:
        """Speculative decoding's target pass: every decoding sequence (its context in `decodes`) checks
        `tokens` draft tokens, a chunk of tokens + 1 queries with logits for each, besides the prefill chunks."""
        decodes = np.asarray(decodes, dtype=np.int64)
        ep = self.parallel.ep
        if ep > 1:
            decodes, prefills = decodes[::ep], prefills[::ep]
        n, width = len(decodes), tokens + 1
        total = n * width + sum(new for new, _, _ in prefills)
        logits = n * width + sum(1 for _, _, last in prefills if last)
        cycles = self.body(total) + (self.head(logits) if logits else 0)
        if n:
            cycles += self.core(n, width, -(-int(decodes.sum()) // n))
        for new, context, _ in prefills:
            cycles += self.core(1, new, context)
        return cycles

    def iteration(self, decodes, prefills: list[tuple[int, int, bool]]) -> int:
        """Cycles of one iteration: `decodes` are the decoding sequences' contexts (an array); `prefills` are
        (new tokens, context, whether it ends its prompt) of each prefill chunk. With expert parallelism,
        attention is data parallel over the ep chips: the first chip, which times the replica, takes every
        ep-th sequence of each kind (the most of any chip)."""
        decodes = np.asarray(decodes, dtype=np.int64)
        ep = self.parallel.ep
        if ep > 1:
            decodes, prefills = decodes[::ep], prefills[::ep]
        tokens = len(decodes) + sum(new for new, _, _ in prefills)
        logits = len(decodes) + sum(1 for _, _, last in prefills if last)
        cycles = self.body(tokens) + (self.head(logits) if logits else 0)
        if len(decodes):
            cycles += self.decode_core(decodes)
        for new, context, _ in prefills:
            cycles += self.core(1, new, context)
        return cycles
