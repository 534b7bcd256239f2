"""The multi-stage DMA/compute pipeline of one core, the step sequences that feed it, and the HBM reads of
a GEMM whose waves share a cache.

`run_pipeline` times an explicit list of steps. The GEMM and vector kernels below return the same floats,
bit for bit, without a list: they derive each step's (load, compute, store) cycles from at most 16 step
classes and jump over the stretches where the pipeline's state only shifts in time.

Why a jump is exact. What later steps read of the pipeline between two steps is
    x = (end of the last compute, channel free, ready times of the next `stages` steps);
the end of the last store is read only at the very end, and the last step (which stores, if any does) is
always simulated. A step maps x to x' using only `max` and `+ c` with c ≥ 0 (its load, compute and store
cycles, the latency). Let F be the map over one period: the same step classes in the same order, the
loads they issue `stages` steps ahead included. Over the reals F(x + Δ) = F(x) + Δ. In floating point the
same holds while every value stays in one binade [2^e, 2^(e+1)): there every float is a multiple of
g = ulp(2^e), so fl(y + Δ + c) = y + Δ + round_g(c) = fl(y + c) + Δ for Δ a multiple of g (unless c/g ends
in exactly .5 and Δ/g is odd, a round-half-even tie; that case is refused), and max commutes with shifts.
Every value a step produces lies between the smallest state value before it and the largest after it,
since c ≥ 0. So if the state at a period boundary equals the state one period earlier plus Δ, bit for bit
(the difference of two floats in one binade is exact), and all of both lie in one binade, the next period
repeats the shift, and so on while the values stay below 2^(e+1): the kernel jumps R periods by adding
R·Δ (exact: a multiple of g below 2^(e+1)) to every value, with R chosen to stay in the binade and to keep
the loads issued ahead inside the periodic stretch, and adds R times the period's compute cycles (integers,
exact). Across a binade the original rounds differently, so the jump stops short of it, and the kernel
simulates until the state repeats in the next binade. Nothing is assumed about how soon the state
repeats (a transient may be long): where it does not, every step is simulated, as `run_pipeline` does.

Periods. Core 0 runs tiles 0, P, 2P, … (P cores) in raster order over (batch, M blocks, N blocks); each
tile is `kt` steps along K (the last may be shorter) and stores its output after the last. A tile's class
is (last M block?, last N block?, last partial wave?). Jumps are tried at three levels: over the inner K
steps of one tile (period one step), over a run of tiles of one class (period one tile), and over whole
periods of the class sequence. Whether tile w·P is in the last N block depends on w·P mod nt only, so
without an M edge the classes repeat every nt tiles (when gcd(P, nt) = 1; otherwise core 0 never lands in
the last N block); with one they repeat every mt·nt / gcd(P, mt·nt) tiles.
"""

import math

import numpy as np

from simulator.kernels.jit import kernel
from simulator.kernels.systolic import core_step_cycles

HISTORY = 4  # earlier boundaries compared with the current state (cyclicity up to 4 periods)
INNER_RUN = 16  # tiles with more K steps than this skip inside their run of inner K steps
RUN = 4  # runs of at least this many tiles of one class skip from tile to tile
SUPER_PERIODS = 3  # jump over whole periods of the class sequence only if there are at least this many
ZERO = np.int64(0)  # a typed zero: a literal 0 passed on makes numba compile the callee twice
INTERPRETED_AS = {"ZERO": 0}  # what the interpreter sees instead (kernels/jit.py): numpy integers are slow there


@kernel
def run_pipeline(load_cycles, compute_cycles, store_cycles, stages, latency):
    """Time of a core running `n` steps whose inputs arrive by DMA into `stages` rotating buffers.

    The DMA channel moves one transfer at a time (occupancy = bytes / bandwidth) while each
    transfer's latency overlaps the next. Step i+stages may load once step i's buffer is freed
    (its compute ended). A step computes when its data arrived and the previous step finished;
    the wait is a stall. Stores (store_cycles > 0) are queued on the same channel after the step.
    Returns (total cycles, compute cycles, stall cycles) as floats.
    """
    n = load_cycles.shape[0]
    ready = np.zeros(n)
    channel_free = 0.0
    for j in range(min(stages, n)):
        channel_free += load_cycles[j]
        ready[j] = channel_free + latency
    prev_end = 0.0
    stall = 0.0
    busy = 0.0
    last_store = 0.0
    for i in range(n):
        start = max(ready[i], prev_end)
        stall += start - prev_end
        end = start + compute_cycles[i]
        busy += compute_cycles[i]
        prev_end = end
        if i + stages < n:
            issue = max(channel_free, end)
            channel_free = issue + load_cycles[i + stages]
            ready[i + stages] = channel_free + latency
        if store_cycles[i] > 0:
            issue = max(channel_free, end)
            channel_free = issue + store_cycles[i]
            last_store = channel_free + latency
    total = max(prev_end, last_store)
    return total, busy, total - busy


# ctx: (desc, load, comp, store, tables, latency) where desc is the step sequence as a tuple of ints
# (cores, mt, nt, edge_m, edge_n, full waves, kt, steps, stages, tile of the first edge N block); load and
# comp are cycles per tile class × (inner, last K step), store per tile class; tables all of them, flat.
@kernel
def _block_class(w, desc):
    """Class of core 0's `w`-th tile: +1 last M block, +2 last N block, +4 last (partial) wave."""
    t = w * desc[0]
    cls = 0
    if desc[3] and (t // desc[2]) % desc[1] == desc[1] - 1:
        cls += 1
    if desc[4] and t % desc[2] == desc[2] - 1:
        cls += 2
    if w >= desc[5]:
        cls += 4
    return cls


@kernel
def _load(i, desc, load):
    kt = desc[6]
    w = i // kt
    return load[_block_class(w, desc), 1 if i - w * kt == kt - 1 else 0]


@kernel
def _run_end(w, w1, desc):
    """A tile e in (w, w1] with tiles [w, e) all of one class: the first class change, at most `w1`."""
    cores, mt, nt, edge_m, edge_n, full = desc[0], desc[1], desc[2], desc[3], desc[4], desc[5]
    end = w1
    if w < full:
        end = min(end, full)
    if edge_n and nt > 1:  # last-N-block tiles of core 0 are w ≡ desc[9] (mod nt), never two in a row
        if (w * cores) % nt == nt - 1:
            return min(end, w + 1)
        end = min(end, w + (desc[9] - w) % nt)
    if edge_m and mt > 1:  # (with one M block every tile is in the last one)
        per_batch = mt * nt
        bi = w * cores // per_batch
        if (w * cores // nt) % mt == mt - 1:  # in a last row: it ends with the batch
            return min(end, -(-(bi + 1) * per_batch // cores))
        while bi * per_batch < end * cores:  # the next last row core 0 lands in
            first = -(-(bi * per_batch + (mt - 1) * nt) // cores)
            if first < -(-(bi + 1) * per_batch // cores):
                return min(end, max(first, w + 1))
            bi += 1
    return end


@kernel
def _simulate(state, ring, i0, i1, busy, ctx):
    """Steps [i0, i1) exactly as `run_pipeline` runs them; state = (prev end, channel free, last store),
    ring[i % stages] = ready time of step i; their compute cycles are added to busy[0]."""
    desc, load, comp, store = ctx[0], ctx[1], ctx[2], ctx[3]
    latency = ctx[5]
    kt, n, stages = desc[6], desc[7], desc[8]
    prev_end, channel_free, last_store, compute = state[0], state[1], state[2], busy[0]
    for i in range(i0, i1):
        w = i // kt
        cls = _block_class(w, desc)
        last_k = 1 if i - w * kt == kt - 1 else 0
        cycles = comp[cls, last_k]
        start = max(ring[i % stages], prev_end)
        end = start + cycles
        compute += cycles
        prev_end = end
        if i + stages < n:
            issue = max(channel_free, end)
            channel_free = issue + _load(i + stages, desc, load)
            ring[i % stages] = channel_free + latency
        if last_k and store[cls] > 0:
            issue = max(channel_free, end)
            channel_free = issue + store[cls]
            last_store = channel_free + latency
    state[0], state[1], state[2], busy[0] = prev_end, channel_free, last_store, compute
    return i1 - i0


@kernel
def _jump(then, now, tables, latency):
    """(Δ, R_max) if `now` is `then` shifted by Δ with every value in one binade, so the period can be
    repeated R ≤ R_max more times by adding R·Δ; (0.0, 0) otherwise. Both hold (prev end, channel
    free, ready times of the next `stages` steps): all that later steps read."""
    delta = now[0] - then[0]
    for j in range(1, now.shape[0]):  # the cheap test first; exact only if the binade test below passes
        if now[j] - then[j] != delta:
            return 0.0, 0
    lo_then, hi = then[0], now[0]
    for j in range(1, now.shape[0]):
        lo_then, hi = min(lo_then, then[j]), max(hi, now[j])
    if not (hi < np.inf) or not (lo_then >= 1.0):
        return 0.0, 0
    lo = math.ldexp(1.0, math.frexp(hi)[1] - 1)  # hi ∈ [lo, 2·lo)
    if lo_then < lo:
        return 0.0, 0
    g = math.ldexp(lo, -52)
    room = int((2.0 * lo - hi) / g) - 1  # multiples of g left below 2·lo
    grains = int(delta / g)
    if grains == 0:
        return delta, 1 << 62
    if grains % 2 == 1:  # a value c with c/g ending in exactly .5 would round the other way after the shift
        for j in range(tables.shape[0] + 1):
            x = (tables[j] if j < tables.shape[0] else latency) / g
            if x - math.floor(x) == 0.5:
                return 0.0, 0
    return delta, room // grains


@kernel
def _try_skip(state, ring, pos, lim, hist, count, busy, ctx):
    """At step `pos` (a period boundary), jump ahead if the state is an earlier boundary's shifted in time;
    never past `lim`. hist rows 0…HISTORY−1 are earlier boundaries (their state, then step and compute
    cycles so far), row HISTORY is scratch. Records the boundary; returns (new pos, boundaries recorded)."""
    stages = ctx[0][8]
    width = 2 + stages
    now = hist[HISTORY, :width]
    prev_end, channel_free = state[0], state[1]
    now[0], now[1] = prev_end, channel_free
    for j in range(stages):
        now[2 + j] = ring[(pos + j) % stages]
    for back in range(min(count, HISTORY)):
        h = (count - 1 - back) % HISTORY
        if channel_free - hist[h, 1] != prev_end - hist[h, 0]:  # _jump's first test, ahead of the call: no shift
            continue
        delta, r_max = _jump(hist[h, :width], now, ctx[4], ctx[5])
        span = pos - int(hist[h, width])
        r = min(r_max, (lim - pos) // span)
        if r > 0:
            shift = r * delta
            busy[0] += r * (busy[0] - hist[h, width + 1])
            pos += r * span
            for j in range(width):
                now[j] += shift
            state[0], state[1] = now[0], now[1]
            for j in range(stages):
                ring[(pos + j) % stages] = now[2 + j]
            count = 0
            break
    slot = count % HISTORY
    hist[slot, :width] = now
    hist[slot, width] = pos
    hist[slot, width + 1] = busy[0]
    return pos, count + 1


@kernel
def _tiles(state, ring, w0, w1, busy, ctx):
    """Tiles [w0, w1) one by one; inside each, its run of inner K steps (all alike) jumps once the state
    repeats from one step to the next."""
    kt, stages = ctx[0][6], ctx[0][8]
    hist = np.empty((HISTORY + 1, stages + 4))
    simulated = 0
    for w in range(w0, w1):
        i, last = w * kt, w * kt + kt - 1
        if kt > INNER_RUN:
            count, lim = ZERO, last - stages  # the loads issued ahead must stay inside the run
            while i < last:
                simulated += _simulate(state, ring, i, i + 1, busy, ctx)
                i += 1
                if i < lim:
                    i, count = _try_skip(state, ring, i, lim, hist, count, busy, ctx)
        simulated += _simulate(state, ring, i, last + 1, busy, ctx)
    return simulated


@kernel
def _advance(state, ring, w0, w1, busy, ctx):
    """Tiles [w0, w1), cut into runs of one class; a run jumps once the state repeats from tile to tile."""
    kt, stages = ctx[0][6], ctx[0][8]
    hist = np.empty((HISTORY + 1, stages + 4))
    simulated = 0
    w = w0
    while w < w1:
        end = _run_end(w, w1, ctx[0])
        if end - w < RUN:
            simulated += _tiles(state, ring, w, end, busy, ctx)
            w = end
            continue
        count, lim = ZERO, end * kt - stages
        while w < end:
            simulated += _tiles(state, ring, w, w + 1, busy, ctx)
            w += 1
            if w * kt < lim:
                pos, count = _try_skip(state, ring, w * kt, lim, hist, count, busy, ctx)
                w = pos // kt
    return simulated


@kernel
def _periods(state, ring, w0, w1, period, busy, ctx):
    """Tiles [w0, w1), whose classes repeat every `period` tiles, skipping once the state repeats."""
    kt, stages = ctx[0][6], ctx[0][8]
    hist = np.empty((HISTORY + 1, stages + 4))
    count, simulated = ZERO, 0
    lim = w1 * kt - stages
    w = w0
    while w < w1:
        nxt = min(w + period, w1)
        simulated += _advance(state, ring, w, nxt, busy, ctx)
        w = nxt
        if (w + period) * kt <= lim:
            pos, count = _try_skip(state, ring, w * kt, lim, hist, count, busy, ctx)
            w = pos // kt
    return simulated


@kernel
def _prepare(cores, mt, nt, edge_m, edge_n, full, kt, steps, stages, first_edge_n, load, comp, store, latency):
    """The ctx tuple the step functions read (see above), and the state before step 0: the first `stages`
    loads issued back to back."""
    desc = (int(cores), int(mt), int(nt), int(edge_m), int(edge_n), int(full), int(kt), int(steps), int(stages),
            int(first_edge_n))
    tables = np.empty(40)
    for cls in range(8):
        tables[5 * cls], tables[5 * cls + 1] = load[cls, 0], load[cls, 1]
        tables[5 * cls + 2], tables[5 * cls + 3], tables[5 * cls + 4] = comp[cls, 0], comp[cls, 1], store[cls]
    state = np.zeros(3)
    ring = np.zeros(stages)
    for j in range(min(stages, steps)):
        state[1] += _load(j, desc, load)
        ring[j] = state[1] + latency
    return (desc, load, comp, store, tables, latency), state, ring


@kernel
def _gemm_tables(m, n, k, tm, tn, tk, a_bytes, b_bytes, out_bytes, rows, cols, n_mxu, dataflow, rate, pipelined,
                 bw_full, bw_last):
    """(load, compute) cycles per tile class × (inner, last K step), and store cycles per tile class."""
    mt, nt, kt = (m + tm - 1) // tm, (n + tn - 1) // tn, (k + tk - 1) // tk
    load = np.empty((8, 2))
    comp = np.empty((8, 2))
    store = np.empty(8)
    for cls in range(8):
        mm = m - (mt - 1) * tm if cls & 1 else min(tm, m)
        nn = n - (nt - 1) * tn if cls & 2 else min(tn, n)
        bw = bw_last if cls & 4 else bw_full
        for last_k in range(2):
            kk = k - (kt - 1) * tk if last_k else min(tk, k)
            cyc, _ = core_step_cycles(mm, nn, kk, rows, cols, n_mxu, dataflow, rate, pipelined)
            comp[cls, last_k] = cyc
            load[cls, last_k] = (mm * kk * a_bytes + kk * nn * b_bytes) / bw
        store[cls] = mm * nn * out_bytes / bw
    return load, comp, store


@kernel(memo=True)
def gemm_core_time(batch, m, n, k, tm, tn, tk, cores, a_bytes, b_bytes, out_bytes,
                   rows, cols, n_mxu, dataflow, rate, pipelined, bw_full, bw_last, stages, latency):
    """(total, compute, stall, steps simulated one by one) of core 0, which holds the most tiles (0, P, 2P, …
    in raster order). The first three equal, bit for bit, `run_pipeline` over core 0's explicit steps.

    Tiles of the last, partial wave share bandwidth among fewer cores, so they move at `bw_last`
    bytes/cycle instead of `bw_full`.
    """
    tm, tn, tk, cores = int(tm), int(tn), int(tk), int(cores)  # interpreted, callers pass numpy integers (slow)
    mt, nt, kt = (m + tm - 1) // tm, (n + tn - 1) // tn, (k + tk - 1) // tk
    tiles = batch * mt * nt
    mine = (tiles + cores - 1) // cores
    full = tiles // cores
    edge_m = m % tm != 0
    # Core 0's tile w·P is in the last N block iff w·P ≡ nt − 1 (mod nt): solvable iff gcd(P, nt) = 1.
    edge_n = n % tn != 0 and math.gcd(cores, nt) == 1
    first_edge_n = 0
    if edge_n:  # w ≡ (nt − 1)·P⁻¹ (mod nt), the inverse by extended Euclid
        r0, r1, s0, s1 = nt, cores % nt, 0, 1
        while r1:
            q = r0 // r1
            r0, r1, s0, s1 = r1, r0 - q * r1, s1, s0 - q * s1
        first_edge_n = (nt - 1) * (s0 % nt) % nt
    load, comp, store = _gemm_tables(m, n, k, tm, tn, tk, a_bytes, b_bytes, out_bytes, rows, cols, n_mxu,
                                     dataflow, rate, pipelined, bw_full, bw_last)
    ctx, state, ring = _prepare(cores, mt, nt, int(edge_m), int(edge_n), full, kt, mine * kt, stages,
                                first_edge_n, load, comp, store, latency)
    busy = np.zeros(1)
    if edge_m and mt > 1:
        period = mt * nt // math.gcd(cores, mt * nt)  # the classes depend on w·P mod (mt·nt)
    else:
        period = nt if edge_n else 1  # … on w·P mod nt
    if period > 1 and full >= SUPER_PERIODS * period:
        simulated = _periods(state, ring, ZERO, full, period, busy, ctx)
    else:
        simulated = _advance(state, ring, ZERO, full, busy, ctx)
    simulated += _advance(state, ring, full, mine, busy, ctx)  # the last, partial wave
    total = max(state[0], state[2])
    return total, busy[0], total - busy[0], simulated


@kernel
def stream_core_time(elements, chunk, ops_per_element, lanes_rate, in_bytes, out_bytes, bw, stages, latency):
    """A vector op streaming `elements` through one core in SRAM-sized chunks: (total, compute, stall, steps
    simulated one by one), the first three equal, bit for bit, to `run_pipeline` over the chunks."""
    steps = (elements + chunk - 1) // chunk
    if steps == 0:
        return 0.0, 0.0, 0.0, 0
    last = elements - (steps - 1) * chunk
    # One "tile" of one step per chunk, on one "core"; the last chunk is the only edge (class 1).
    load = np.zeros((8, 2))
    comp = np.zeros((8, 2))
    store = np.zeros(8)
    for cls in range(2):
        e = last if cls else chunk
        load[cls, 0] = load[cls, 1] = e * in_bytes / bw
        comp[cls, 0] = comp[cls, 1] = np.ceil(e * ops_per_element / lanes_rate - 1e-9)
        store[cls] = e * out_bytes / bw
    ctx, state, ring = _prepare(1, steps, 1, int(last != chunk), 0, steps, 1, steps, stages, 0, load, comp, store,
                                latency)
    busy = np.zeros(1)
    simulated = _advance(state, ring, ZERO, steps, busy, ctx)
    total = max(state[0], state[2])
    return total, busy[0], total - busy[0], simulated


@kernel
def _floor_sum(n, m, a, b):
    """Σ_{i<n} floor((a·i + b) / m) for n, a, b ≥ 0 and m ≥ 1 (the Euclid-like algorithm, O(log m))."""
    total = 0
    while True:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y = a * n + b
        if y < m:
            return total
        n, b = y // m, y % m
        m, a = a, m


@kernel
def _count_high(count, a, b, lam, c):
    """#{r < count : (a·r + b) mod c ≥ c − lam} for 0 ≤ lam < c: floor((x + lam)/c) − floor(x/c) summed."""
    if lam == 0 or count <= 0:
        return 0
    a %= c
    b %= c
    period = c // math.gcd(a, c)  # (a·r + b) mod c repeats every `period` values of r
    whole, rest = divmod(count, period)
    per = _floor_sum(period, c, a, b + lam) - _floor_sum(period, c, a, b)
    return whole * per + _floor_sum(rest, c, a, b + lam) - _floor_sum(rest, c, a, b)


@kernel
def gemm_hbm_read_bytes(batch, m, n, k, tm, tn, cores, a_bytes, b_bytes, a_resident, b_resident):
    """HBM bytes read for A and B when a shared cache serves each wave's common blocks.

    Tiles of one wave run in lockstep, so a row block of A (or column block of B) used by several
    of them is fetched from HBM once per wave. An operand that fits the cache whole (`*_resident`)
    is fetched once for the whole GEMM.

    Closed form: tile t (raster order over batch, M blocks, N blocks) is in wave floor(t / P). A row
    block's tiles are the nt consecutive t from s = row·nt, so it spans 1 + floor((s + L)/P) − floor(s/P)
    waves with L = nt − 1, which is 1 + floor(L/P) + [s mod P ≥ P − L mod P]; summing the bracket over
    rows is a floor sum. A column block's mt tiles are nt apart: with nt ≥ P each is in its own wave;
    otherwise consecutive tiles are at most one wave apart, so the same count applies with L = (mt−1)·nt,
    summed over the nt (< P) column blocks. Integer element counts, then one exact multiplication by the
    bytes per element (a power of two, or 0), so the result equals the per-tile sum bit for bit.
    """
    mt = (m + tm - 1) // tm
    nt = (n + tn - 1) // tn
    per_batch = mt * nt
    if a_resident:
        a_elems = batch * m
    else:
        span = nt - 1
        waves, lam = 1 + span // cores, span % cores
        all_rows = batch * mt * waves + _count_high(batch * mt, nt, 0, lam, cores)
        last_rows = batch * waves + _count_high(batch, per_batch, (mt - 1) * nt, lam, cores)
        a_elems = tm * all_rows - (tm - (m - (mt - 1) * tm)) * last_rows
    if b_resident:
        b_elems = batch * n
    elif nt >= cores:
        b_elems = batch * mt * n
    else:
        span = (mt - 1) * nt
        waves, lam = 1 + span // cores, span % cores
        b_elems = batch * n * waves
        for ni in range(nt):
            width = tn if ni < nt - 1 else n - (nt - 1) * tn
            b_elems += width * _count_high(batch, per_batch, ni, lam, cores)
    return float(a_elems * k) * a_bytes, float(b_elems * k) * b_bytes
