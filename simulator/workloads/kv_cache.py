"""How many KV-cache bytes a layer group holds, reads and writes: the one place that knows a sliding window.

A query at position i of a sliding layer with window W sees the W keys i − W + 1 … i (transformers' Mistral and
Gemma-2 masks), so a decode step after `context` cached tokens reads min(context, W − 1) of them, and a
sequence holds at most W tokens per sliding layer (Mistral's rolling buffer; Gemma-2's "hybrid" cache). Full
layers read and hold every token. The bytes per token and layer are the shard's `Model.kv_width` (K and V of
its KV heads, or MLA's latent and RoPE key) at the cache dtype.
"""

from simulator.config.dtypes import nbytes
from simulator.workloads.model import LayerGroup, Model


def cached_read(window: int | None, context: int) -> int:
    """Cached tokens one query after `context` cached ones reads in a layer with `window` (None: all)."""
    return context if window is None else min(context, window - 1)


def held(window: int | None, tokens: int) -> int:
    """Tokens a sequence of `tokens` keeps in a layer with `window` (None: all)."""
    return tokens if window is None else min(tokens, window)


def read_bytes(shard: Model, dtype: str, context: int, groups: tuple[LayerGroup, ...] | None = None) -> int:
    """Cache bytes one sequence's step after `context` cached tokens reads, over `groups` (default: every
    layer of `shard`)."""
    return sum(g.count * nbytes(cached_read(g.window, context) * g.model.kv_width, dtype)
               for g in groups or shard.groups())


def write_bytes(shard: Model, dtype: str, new: int) -> int:
    """Cache bytes `new` tokens of one sequence write, over every layer."""
    return sum(g.count * nbytes(new * g.model.kv_width, dtype) for g in shard.groups())


def held_bytes(shard: Model, dtype: str, tokens: int, counts: dict[str, int] | None = None) -> int:
    """Cache bytes one sequence of `tokens` tokens holds; `counts` (group name → layers) for a pipeline stage's
    share of each group (default: all of them)."""
    return sum((g.count if counts is None else counts.get(g.name, 0)) * nbytes(held(g.window, tokens)
                                                                                * g.model.kv_width, dtype)
               for g in shard.groups())
