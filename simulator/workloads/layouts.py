"""Inference partition layouts of Pope et al. 2022, "Efficiently Scaling Transformer Inference" (arXiv 2211.05102,
§3.2 feedforward layouts, §3.3 attention): which chips of a tensor-parallel group hold which part of the FFN's
weights and activations, and the collectives that move between them.

The tp group of n chips is an X×Y×Z grid (`Parallel.tp_grid`; x varies fastest, so an x group is the nearest
chips). Notation of the paper: B·L tokens per pass (T), E = hidden, F = intermediate; "BLE_xyz" means 1/n of the
activations on each chip. Every layout but the default keeps that 1/n of the residual stream on each chip
between blocks; the attention block then all-gathers it over the tp group before the QKV projection and
reduce-scatters after the output projection (the paper's 1D layout of attention, the same bytes as an
all-reduce).

- 1d_weight_stationary (the default, Megatron): W_in split E·F_xyz, W_out F_xyz·E; today's lowering unchanged
  (an all-reduce of T·E after each block, or reduce-scatter + all-gather under sequence parallelism).
- 2d_weight_stationary (§3.2.2): W_in split E_x·F_yz, W_out F_yz·E_x. all-gather over yz → T·E/X on each chip;
  W_in; reduce-scatter over x → T·F/n; activation; all-gather over x → T·F/YZ; W_out; reduce-scatter over yz →
  T·E/n. Per chip and layer: 2·T·E/X + 2·T·F/(YZ) elements gathered or scattered, 8·T·E/√n at the paper's
  X = ½√n with F = 4E: ∝ 1/√n, where 1D's 2·T·E does not shrink.
- weight_gathered_x, _xy, _xyz (§3.2.3): the weights, stored 1/n per chip, are all-gathered over the named axes
  (G chips) and stay split over the other S = n/G chips; the activations are batch-sharded over the G chips
  (T/G tokens each) and split 1D-stationary over the S chips. Per chip and layer: 2·E·F/S weight elements
  gathered plus 2·(T/G)·E activation elements (none when S = 1): the paper's 2·BLE·N/n + 2·E·F/N with N = S.
  A gated FFN's input projection is E × 2F: its gathered and reduced widths double (its weights too).

Batch-sharded attention (§3.3, `Parallel.attention: batch`): each chip computes q for its heads/n query heads
over all tokens, and K and V (the full KV projection, replicated) for its own batch/n sequences, whose KV cache
it holds with every KV head; an all-to-all moves q from head-sharded to batch-sharded, attention runs on the
chip's sequences with all heads, and a second all-to-all moves the output back to head-sharded before the
row-split output projection. A multi-query model's one KV head is then read by one chip per sequence, not by
all n.
"""

from simulator.config.dtypes import nbytes
from simulator.workloads.model import Model
from simulator.workloads.parallel import DEFAULT_LAYOUT, Parallel

# The grid axes a weight-gathered layout gathers its weights over, and the sub-axis of each (Parallel.groups):
# (gathered axis, stationary axis or None).
GATHER_AXES = {"weight_gathered_x": ("tp_x", "tp_yz"), "weight_gathered_xy": ("tp_xy", "tp_z"),
               "weight_gathered_xyz": ("tp", None)}


def gather_split(layout: str, grid: tuple[int, int, int]) -> tuple[int, int]:
    """(G, S) of a weight-gathered layout: chips its weights are gathered over, and stay split over."""
    x, y, z = grid
    gathered = {"weight_gathered_x": x, "weight_gathered_xy": x * y, "weight_gathered_xyz": x * y * z}[layout]
    return gathered, x * y * z // gathered


def ffn_2d(b, model: Model, tokens: int, tp: int, grid: tuple[int, int, int]) -> str:
    """The 2D weight-stationary FFN of one chip, from its T·E/n of the residual to its T·E/n of the output;
    `model` is the chip's shard (intermediate / tp)."""
    x, y, z = grid
    yz, hidden, width = y * z, model.hidden, model.intermediate * tp
    gated = model.gated_mlp
    wide = width * (2 if gated else 1)  # W_in's output: gate and up side by side
    if yz > 1:
        b.collective("mlp_allgather_yz", "all_gather", tokens * hidden // x, "tp_yz")
    b.gemm("gate_up" if gated else "up", "mlp", tokens, wide // yz, hidden // x)
    if x > 1:
        b.collective("mlp_reducescatter_x", "reduce_scatter", tokens * wide // yz, "tp_x")
    b.vector("act", "mlp", model.act_kind, tokens * width // tp)
    if x > 1:
        b.collective("mlp_allgather_x", "all_gather", tokens * width // yz, "tp_x")
    b.gemm("down", "mlp", tokens, hidden // x, width // yz)
    if yz > 1:
        return b.collective("mlp_reducescatter_yz", "reduce_scatter", tokens * hidden // x, "tp_yz")
    return b.last[0]


def ffn_gathered(b, model: Model, tokens: int, tp: int, layout: str, grid: tuple[int, int, int]) -> str:
    """A weight-gathered FFN of one chip: both matrices' shards all-gathered over G chips (from the start of the
    layer, so they may overlap attention), then the chip's T/G tokens through the S-way 1D split. The pass's
    weight bytes count the chip's resident 1/n; the GEMMs read the gathered copy."""
    g, s = gather_split(layout, grid)
    over, within = GATHER_AXES[layout]
    hidden, width, gated = model.hidden, model.intermediate * tp, model.gated_mlp
    wide = width * (2 if gated else 1)
    start = b.last
    w_in = w_out = ()
    if g > 1:
        w_in = (b.collective("mlp_in_weights_allgather", "all_gather", hidden * wide // s, over, after=(),
                             dtype=b.dt.weights),)
        w_out = (b.collective("mlp_out_weights_allgather", "all_gather", width * hidden // s, over, after=w_in,
                              dtype=b.dt.weights),)
    rows = tokens // g
    b.last = start
    if s > 1:
        b.collective("mlp_allgather", "all_gather", rows * hidden, within)
    up = b.gemm("gate_up" if gated else "up", "mlp", rows, wide // s, hidden, weight=False, b_dtype=b.dt.weights,
                after=b.last + w_in)
    act = b.vector("act", "mlp", model.act_kind, rows * width // s, after=(up,))
    b.gemm("down", "mlp", rows, hidden, width // s, weight=False, b_dtype=b.dt.weights, after=(act,) + w_out)
    b.weight_bytes += nbytes((hidden * wide + width * hidden) // tp, b.dt.weights)
    if s > 1:
        return b.collective("mlp_reducescatter", "reduce_scatter", rows * hidden, within)
    return b.last[0]


def check_layout(model: Model, parallel: Parallel, pass_tokens: dict[str, int], sequences: int, fail) -> None:
    """`fail(field, allowed)` (one line) for a layout or batch-sharded attention the lowering cannot do: the
    grid must multiply to tp; the FFN layouts take dense sequential blocks whose hidden size splits over tp, and a
    weight-gathered layout every pass's tokens over its G chips; batch-sharded attention every pass's sequences
    over tp."""
    t, name = parallel.tp, model.name
    if parallel.grid is not None and parallel.grid[0] * parallel.grid[1] * parallel.grid[2] != t:
        fail("grid", f"X × Y × Z must equal tp = {t} (the tensor-parallel group is the grid)")
    if parallel.layout != DEFAULT_LAYOUT and t > 1:
        if model.is_moe or model.dense_layers:
            fail("layout", f"{DEFAULT_LAYOUT} for {name}: the other layouts split a dense FFN; an MoE model's "
                           "experts are split by tp and ep")
        if model.parallel_block:
            fail("layout", f"{DEFAULT_LAYOUT} for {name}: its parallel attention and MLP branches are reduced "
                           "together; the other layouts lower sequential blocks")
        if model.hidden % t:
            fail("layout", f"{DEFAULT_LAYOUT} unless tp = {t} divides hidden_size ({model.hidden}) of {name}: "
                           "the other layouts keep 1/tp of the residual stream on each chip")
        if parallel.layout in GATHER_AXES:
            g, _ = gather_split(parallel.layout, parallel.tp_grid)
            for phase, tokens in pass_tokens.items():
                if tokens % g:
                    fail("layout", f"{parallel.layout} batch-shards a pass's tokens over the {g} chips its weights "
                                   f"are gathered over, but a {phase} pass has {tokens}; change scenario.batch, "
                                   "parallel.grid or the layout")
    if parallel.attention == "batch" and t > 1:
        if model.mla:
            fail("attention", f"heads for {name}: multi-head latent attention is lowered head-sharded only")
        if sequences % t:
            fail("attention", f"heads, or batch with a pass's sequences on a chip (scenario.batch / (dp × ep × "
                              f"microbatches) = {sequences}) divisible by tp = {t}")
