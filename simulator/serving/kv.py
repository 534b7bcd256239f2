"""The paged KV cache of one serving instance (vLLM PagedAttention): fixed blocks of `block_size` tokens.

Blocks per chip = (HBM × memory_utilization − weights − activation workspace) ÷ bytes per block, where a
block holds K and V of `block_size` tokens over every layer for the chip's KV heads (the same on every
chip of a tensor-parallel group; an expert-parallel group holds ep × as many sequences). The workspace is
the live activations of the largest iteration the scheduler may form (max_batched_tokens tokens), as the
inference capacity check counts them (workloads/capacity.py).

Sliding-window layers (Mistral, Gemma-2) hold at most their window, as vLLM's hybrid KV-cache manager keeps
them: the layers are split into equal shares of u = gcd(group sizes) layers, a block holds `block_size` tokens
of one share, a full-attention share needs ceil(tokens / block_size) blocks and a sliding one at most
ceil((W − 1) / block_size) + 1 (the window straddles a block boundary). With a draft model (speculative
decoding) every layer holds every token."""

import math
from dataclasses import dataclass

import numpy as np

from simulator.config.dtypes import nbytes
from simulator.errors import CapacityError
from simulator.workloads import kv_cache
from simulator.workloads.capacity import footprint, gb
from simulator.workloads.model import Model
from simulator.workloads.parallel import Parallel
from simulator.workloads.scenario import Scenario
from simulator.workloads.serving import Serving
from simulator.workloads.sharding import local_model, weight_bytes_per_chip
from simulator.workloads.transformer import Dtypes, lower_pass


@dataclass(frozen=True)
class KVLayout:
    block_size: int  # tokens per block
    block_bytes: int  # per chip
    blocks: int  # per instance (all its expert-parallel chips together)
    weights: int  # per chip
    workspace: int  # per chip
    shares: tuple[tuple[int, int | None], ...] = ((1, None),)  # (shares of u layers, their window) per group

    def blocks_for(self, tokens):
        """Blocks a request of `tokens` tokens holds (an int, or an array for an array)."""
        blocks = -(-tokens // self.block_size)
        if self.shares == ((1, None),):
            return blocks
        out = sum(n * (blocks if w is None else np.minimum(blocks, -(-(w - 1) // self.block_size) + 1))
                  for n, w in self.shares)
        return out if isinstance(out, np.ndarray) else int(out)


def kv_layout(model: Model, scenario: Scenario, parallel: Parallel, serving: Serving, hbm_bytes: int,
              chip: str, source: str, draft: Model | None = None) -> KVLayout:
    """The instance's KV blocks, or a one-line CapacityError when the weights and workspace leave none. With
    speculative decoding the `draft` model's weights share the HBM and its KV cache grows with the target's
    (a block holds both)."""
    dt = Dtypes.of(scenario)
    kv = serving.kv
    shares, per_token = _shares(model, parallel, dt.kv, draft)
    block_bytes = per_token * kv.block_size
    weights = weight_bytes_per_chip(model, parallel, dt.weights, dt.vector)
    if draft is not None:
        weights += weight_bytes_per_chip(draft, parallel.model_copy(update={"ep": 1}), dt.weights, dt.vector)
    tokens = serving.scheduler.max_batched_tokens
    probe = scenario.model_copy(update={"phase": "prefill", "batch": parallel.dp * parallel.ep, "prompt": tokens})
    workspace = footprint(model, probe, [lower_pass(model, probe, "prefill", tokens, 0, parallel=parallel)],
                          parallel).activations
    usable = int(hbm_bytes * kv.memory_utilization) - weights - workspace
    if kv.blocks is not None:
        per_chip = kv.blocks
        if per_chip * block_bytes > max(usable, 0):
            raise CapacityError(f"{source}: serving.kv.blocks = {per_chip} blocks of {gb(block_bytes)} need "
                                f"{gb(per_chip * block_bytes)} per chip, but {chip} has {gb(max(usable, 0))} left for "
                                f"the KV cache (HBM {gb(hbm_bytes)} × {kv.memory_utilization:g} − weights {gb(weights)}"
                                f" − workspace {gb(workspace)}); lower it or remove it to use what is left")
    else:
        per_chip = usable // block_bytes if usable > 0 else 0
    if per_chip < 1:
        raise CapacityError(
            f"{source}: {model.name} leaves no room for a KV cache on {chip}: HBM {gb(hbm_bytes)} × "
            f"serving.kv.memory_utilization {kv.memory_utilization:g} − weights {gb(weights)} − workspace "
            f"{gb(workspace)} (serving.scheduler.max_batched_tokens = {tokens}) < one block of {gb(block_bytes)}; "
            f"raise parallel.tp, quantize (scenario.weights=fp8/int8) or lower max_batched_tokens")
    return KVLayout(kv.block_size, block_bytes, per_chip * parallel.ep, weights, workspace, shares)


def _shares(model: Model, parallel: Parallel, kv_dtype: str, draft: Model | None) -> tuple[tuple, int]:
    """(shares per layer group, bytes per token of one block), per chip. Without sliding layers (or with a
    draft) one share of every layer (and the draft's, and the MTP modules'), as before windows existed."""
    shard = local_model(model, parallel)
    groups = shard.groups()
    widths = {g.model.kv_width for g in groups}
    if draft is not None or all(g.window is None for g in groups) or len(widths) > 1 or model.mtp_layers:
        per_token = kv_cache.write_bytes(shard, kv_dtype, 1) + model.mtp_layers * nbytes(
            groups[-1].model.kv_width, kv_dtype)
        if draft is not None:
            per_token += kv_cache.write_bytes(local_model(draft, parallel), kv_dtype, 1)
        return ((1, None),), per_token
    unit = math.gcd(*(g.count for g in groups))
    return tuple((g.count // unit, g.window) for g in groups), unit * nbytes(widths.pop(), kv_dtype)


class BlockPool:
    """Blocks in use, per request (an array over every request of the run) and in all; a request holds
    ceil(tokens / block_size) of them."""

    def __init__(self, layout: KVLayout, requests: int):
        self.layout = layout
        self.capacity = layout.blocks
        self.used = 0
        self.held = np.zeros(requests, dtype=np.int64)  # request → blocks
        self.peak = 0

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def need(self, rid: int, tokens: int) -> int:
        """More blocks `rid` needs to hold `tokens` tokens."""
        return max(0, self.layout.blocks_for(tokens) - int(self.held[rid]))

    def grow(self, rid: int, tokens: int) -> bool:
        """Hold `tokens` tokens for `rid` if the blocks are free; False (and nothing taken) if not."""
        more = self.need(rid, tokens)
        if more > self.capacity - self.used:
            return False
        if more:
            self.held[rid] += more
            self.used += more
            self.peak = max(self.peak, self.used)
        return True

    def grow_all(self, rids: np.ndarray, tokens: np.ndarray) -> bool:
        """Hold `tokens[i]` tokens for each `rids[i]` if the blocks for all are free (else nothing is taken)."""
        more = np.maximum(self.layout.blocks_for(tokens) - self.held[rids], 0)
        total = int(more.sum())
        if total > self.capacity - self.used:
            return False
        if total:
            self.held[rids] += more
            self.used += total
            self.peak = max(self.peak, self.used)
        return True

    def release(self, rid: int) -> int:
        """Free every block of `rid`; returns how many."""
        n = int(self.held[rid])
        self.held[rid] = 0
        self.used -= n
        return n
