"""Cycle-level DRAM: a memory controller per channel and the banks behind it, timed command by command.

One `simulate` call runs a request stream through the whole memory of a chip (every channel of every device)
and returns what the stream achieved. Time is integer command-clock cycles (CK). Nothing is ticked: each
channel is visited only at the cycles where it can issue a command (the earliest cycle at which every timing
constraint of its best candidate is met) or where a request arrives, so the result is the one a cycle-by-cycle
controller gives, at the cost of one visit per command. A visit works out again only the candidates of the
banks that changed since the channel's last one (a command, an admission, a refresh, a head that starts
starving); the rest of its choice reads a summary per bank (class, the cycle its bank and bank group allow it,
priority) and takes FR-FCFS's command as branch-free minima over them.

What is modelled (docs/memory.md):
- Organization: `units` independent (pseudo-)channels, each with `bank_groups` × `banks` banks, one open row
  per bank; the request's channel, bank group, bank and row come from its address by a mixed-radix mapping
  (the fields least significant first, each a digit of its size).
- Timing constraints, the JEDEC set (constant names as in the presets):
  ACT→RD nRCD, ACT→WR nRCDWR, ACT→PRE nRAS, ACT→ACT same bank nRC, PRE→ACT nRP, ACT→ACT other bank nRRD_S
  (other bank group) / nRRD_L (same group), at most 4 ACTs in any nFAW window, RD→RD nCCD_S / nCCD_L,
  WR→WR nCCD_S_WR / nCCD_L_WR, RD→WR nRTW, WR→RD nCWL + nBL + nWTR_S / nWTR_L, RD→PRE nRTP,
  WR→PRE nCWL + nBL + nWR, refresh: all-bank REF every nREFI blocking the channel nRFC (every bank closed
  first), or per-bank REFpb every nREFI / banks blocking one bank nRFCpb (round robin, nRREFD to the next
  ACT of the channel). A read's data is back nCL + nBL after its RD, a write's written nCWL + nBL after its WR.
- Controller: requests enter their channel's read or write queue (read_queue / write_queue entries; the rest
  wait in order). FR-FCFS: among commands ready this cycle, column commands to open rows (hits) first, then
  the oldest; a request at the head of its bank's queue that has waited more than `cap` cycles is served
  before any hit to its bank passes it (the starvation cap). Writes are drained from `write_high` queued
  writes down to `write_low` (or when no read waits): the read/write turnaround is paid once per drain.
  Open-row policy keeps a row open until another row is needed; closed-row policy precharges after the last
  queued request to the row (auto-precharge). One command per cycle per channel, or one row command (ACT,
  PRE, REF) and one column command (RD, WR) with `dual_bus` (HBM).
- The requester: at most `concurrency` requests outstanding over the whole memory (closed loop), each issued
  no earlier than its arrival cycle. A read is outstanding from its issue until its data is back; a write is
  posted, outstanding only until its controller's write queue takes it (as a GPU's stores are).
"""

import numpy as np

from simulator.kernels.jit import kernel

# Indices into the parameter array `p` (hardware/dram.py fills it).
(P_UNITS, P_GROUPS, P_BANKS, P_BL, P_CL, P_CWL, P_RCD, P_RCDWR, P_RP, P_RAS, P_RC, P_RTP, P_WR, P_RRD_S, P_RRD_L,
 P_FAW, P_CCD_S, P_CCD_L, P_CCD_S_WR, P_CCD_L_WR, P_WTR_S, P_WTR_L, P_RTW, P_RFC, P_REFI, P_RFCPB, P_RREFD,
 P_REFRESH, P_CLOSED, P_READ_Q, P_WRITE_Q, P_WRITE_HIGH, P_WRITE_LOW, P_CAP, P_DUAL_BUS, P_CONCURRENCY,
 P_BURST_BYTES, P_LOG) = range(38)
N_PARAMS = 38
REFRESH_NONE, REFRESH_ALL_BANK, REFRESH_PER_BANK = 0, 1, 2

# The request stream `g`: kind, then its fields. Addresses are in bursts.
(G_KIND, G_COUNT, G_CHUNK, G_STRIDE, G_SPACE, G_BASE, G_SEED, G_WRITE_NUM, G_WRITE_DEN) = range(9)
N_STREAM = 9
KIND_EXPLICIT, KIND_STRIDED, KIND_GATHER = 0, 1, 2  # stream = strided with chunk = stride; random = gather

# Commands in the log.
CMD_ACT, CMD_PRE, CMD_RD, CMD_WR, CMD_REF, CMD_REFPB = 0, 1, 2, 3, 4, 5

# What `simulate` returns in `stats`.
(S_ELAPSED, S_BYTES, S_READS, S_WRITES, S_ACTS, S_PRES, S_REFS, S_REFRESH_BANK_CYCLES, S_LATENCY_SUM,
 S_LATENCY_MAX, S_LOGGED, S_FIRST_ISSUE, S_UNIT_VISITS, S_WRITE_LATENCY_SUM) = range(14)
N_STATS = 14
HISTOGRAM = 1 << 16  # latency histogram bins of one cycle; the last one holds everything longer

# Columns of the state arrays: per bank, per bank group, per channel, per queue slot, per waiting request.
# Per bank, its cached candidate (the slot, command, whether its head starves, priority, bank-level ready cycle),
# the arrival cycle of each queue's head (INF when empty), whether a refresh holds it; what only commands change.
(B_CAND, B_CMD, B_STARVING, B_PRIO, B_READY, B_ARR, B_ARR_W, B_REF) = range(8)
(C_OPEN, C_ACT, C_PRE, C_RD, C_WR) = range(5)  # C_ACT + CMD_x is command x's column
(R_ACT, R_PRE, R_RD, R_WR) = range(4)  # per bank group, by command (as CMD_*); R_PRE stays 0
(U_ACT, U_RD, U_WR, U_ROW_BUS, U_COL_BUS, U_MODE, U_READS, U_WRITES, U_REF_DUE, U_REF_PENDING, U_REF_BANK, U_REF_OK,
 U_PEND_HEAD, U_PEND_TAIL, U_NEXT, U_FAW_AT, U_FLIPS, U_FAW) = range(18)  # U_FAW: the last four ACT cycles
N_UNIT = 24
FLIPS_STALE = -1  # us[u, U_FLIPS]: the least of the channel's sel_flip, or this when it must be taken again
(L_NEXT, L_ROW) = range(2)  # per queue slot: what the walks along a bank's queue read, 8 bytes a request
(W_NEXT, W_WHERE, W_ARR, W_SEQ) = range(4)  # per request waiting for room: next, (row << 32) | (bank << 1) | write

LOW_BIT = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8, 31, 27, 13, 23, 21, 19, 16, 7,
                    26, 12, 18, 6, 11, 5, 10, 9], np.int64)  # bit index of a 32-bit power of two, by de Bruijn
DE_BRUIJN = 0x077CB531
# What a visit's scan reads per bank (bank order, one array each): its priority key with the class of its cached
# candidate in the two low bits (SEL_COLUMN, SEL_ACT, SEL_PRE; SEL_NONE without one or when a refresh holds it),
# and the cycle its bank and bank group allow it; beside them, the cycle its head starts starving (INF once it
# has), whose least per channel is kept (us[u, U_FLIPS]) rather than scanned.
SEL_COLUMN, SEL_ACT, SEL_PRE, SEL_NONE = 0, 1, 2, 3
NO_KEY = (1 << 63) - 1  # above every key: no candidate
PRIME = 2147483647  # 2**31 − 1: the random patterns' hash stays below 2**62 in int64
INF = 1 << 62
NO_VISIT = (1 << 63) - 1  # a channel's key in the visit tree while it has nothing to do


@kernel
def simulate(p, g, mapping, addresses, writes, arrivals):
    """Run stream `g` through the memory `p`. `mapping` is rows of (field, size, multiplier, hash seed, log2 of
    the size or -1), least significant first, field 0 channel, 1 bank group, 2 bank, 3 column, 4 row; a row with
    a hash seed adds a scramble of the address digits above it to its digit, modulo its size (a permutation of
    that field for every value of the others, as GPUs hash channels to spread strided accesses).
    `addresses`/`writes` are read for explicit streams, `arrivals` (cycle before which request i is not issued)
    when it has an entry per request. Returns (stats, latency histograms (reads, writes; cycles from issue to
    data returned or written), command log rows (cycle, command, unit, bank, row))."""

    # The helpers are closures, which numba inlines: a call between compiled functions counts references on
    # every array it passes, and in this loop that cost four times the work.
    def mix(j, seed):
        """A deterministic scramble of granule index `j` into [0, PRIME) (affine rounds modulo a prime)."""
        x = (j + seed) % PRIME
        x = (x * 1103515245 + 12345) % PRIME
        x = (x * 69069 + 1013904223 + seed) % PRIME
        x = (x * 48271) % PRIME
        return x

    def divide(a, d, inv):
        """(a // d, a % d) for d ≥ 1 given inv = 1 / d: by the double reciprocal, then one correction (exact for
        0 ≤ a < 2**52, where the estimate is off by at most one), without an integer division."""
        if a < 0 or a >= 1 << 52:
            q = a // d
            return q, a - q * d
        q = int(a * inv)
        r = a - q * d
        if r < 0:
            q -= 1
            r += d
        elif r >= d:
            q += 1
            r -= d
        return q, r

    def stream_address(g, i, addresses):
        """Burst address of request `i` of stream `g`."""
        kind = g[G_KIND]
        if kind == KIND_EXPLICIT:
            return addresses[i]
        chunk = g[G_CHUNK]
        j = i // chunk
        if kind == KIND_STRIDED:
            return (g[G_BASE] + j * g[G_STRIDE] + i % chunk) % g[G_SPACE]
        granules = g[G_SPACE] // chunk
        return (mix(j, g[G_SEED]) % granules) * chunk + i % chunk

    def stream_is_write(g, i, writes):
        """Whether request `i` writes: given (explicit streams), or evenly spread granules at the write fraction."""
        if g[G_KIND] == KIND_EXPLICIT:
            return writes[i] != 0
        j = i // g[G_CHUNK]
        num = g[G_WRITE_NUM]
        den = g[G_WRITE_DEN]
        return ((j + 1) * num) // den > (j * num) // den

    def tree_set(tree, leaf, key):
        """Set leaf `leaf` of the tournament tree `tree` (leaves at [half, 2 half)) to `key` and the minima above it."""
        k = leaf
        tree[k] = key
        least = key
        while k > 1:  # one load a level (the sibling's), the minimum carried up
            least = min(least, tree[k ^ 1])
            k >>= 1
            tree[k] = least

    def write_mode(mode, reads, writes, high, low):
        """The channel's mode after hysteresis: drain writes from `high` queued down to `low`, or when no read waits."""
        if mode == 0:
            if writes >= high or (reads == 0 and writes > 0):
                return 1
            return 0
        if writes == 0 or (writes <= low and reads > 0):
            return 0
        return 1

    units = p[P_UNITS]
    groups = p[P_GROUPS]
    per_group = p[P_BANKS]
    banks = groups * per_group
    n = g[G_COUNT]
    q = p[P_CONCURRENCY]
    read_q = p[P_READ_Q]
    write_q = p[P_WRITE_Q]
    cap = p[P_CAP]
    dual = p[P_DUAL_BUS] != 0
    closed = p[P_CLOSED] != 0
    refresh = p[P_REFRESH]
    n_bl = p[P_BL]
    n_faw = p[P_FAW]
    high = p[P_WRITE_HIGH]
    low = p[P_WRITE_LOW]
    timed_arrivals = arrivals.shape[0] == n
    log_cap = p[P_LOG]
    log = np.zeros((max(log_cap, 1), 5), np.int64)
    n_log = 0
    stats = np.zeros(N_STATS, np.int64)
    hist = np.zeros((2, HISTOGRAM), np.int64)  # read latencies, write latencies

    bs = np.zeros((units * banks, 8), np.int64)
    bs[:, B_CAND] = -1
    bs[:, B_ARR] = INF
    bs[:, B_ARR_W] = INF
    bc = np.zeros((units * banks, 5), np.int64)
    bc[:, C_OPEN] = -1
    head = np.full(units * banks * 2, -1, np.int32)  # per bank and mode (0 read, 1 write): its queue's first slot
    tail = np.full(units * banks * 2, -1, np.int32)  # and its last
    words = (banks + 31) >> 5  # bit masks over a channel's banks, 32 to a word
    group_shift = -1  # log2(per_group) when a power of two: bank ub's bank group (its row in `gs`) is ub >> it
    if per_group & (per_group - 1) == 0:
        group_shift = 0
        while (1 << group_shift) < per_group:
            group_shift += 1

    def group_of(ub):
        """Bank ub's bank group, numbered over all channels (u * groups + b // per_group = ub // per_group)."""
        return ub >> group_shift if group_shift >= 0 else ub // per_group
    cap_flip = cap + 1 if cap > 0 else INF  # a head that arrived at `a` starves from cycle a + cap_flip on
    sel_key = np.full(units * banks, SEL_NONE, np.int64)
    sel_ready = np.full(units * banks, INF, np.int64)
    sel_flip = np.full(units * banks, INF, np.int64)
    dirty = np.zeros(units * words, np.int64)  # per channel, a bit per bank whose entry must be worked out again
    bank_bits = 1
    while (1 << bank_bits) < banks:
        bank_bits += 1
    key_bits = 60 - bank_bits  # priority keys: (not starving, request number, bank, class), below 2**63
    if n >= 1 << key_bits:
        raise ValueError("too many requests for the scheduler's priority keys")

    def mark_dirty(u, b):
        """Bank `b` of channel `u` changed: its candidate is worked out again at the channel's next visit."""
        dirty[u * words + (b >> 5)] |= 1 << (b & 31)

    gs = np.zeros((units * groups, 4), np.int64)
    unit_ready = np.zeros(4, np.int64)  # a visit's channel-level constraint per command
    us = np.zeros((units, N_UNIT), np.int64)
    us[:, U_PEND_HEAD] = -1
    us[:, U_PEND_TAIL] = -1
    us[:, U_NEXT] = INF
    us[:, U_REF_DUE] = INF
    us[:, U_FLIPS] = INF
    for k in range(4):
        us[:, U_FAW + k] = -INF
    interval = p[P_REFI] if refresh == REFRESH_ALL_BANK else max(p[P_REFI] // banks, 1)
    if refresh != REFRESH_NONE:
        for u in range(units):  # staggered over the channels, as controllers do
            us[u, U_REF_DUE] = interval + (u * interval) // units
            us[u, U_NEXT] = us[u, U_REF_DUE]

    # A queued request lives in a slot of its channel (at most read_q reads and write_q writes are queued there):
    # its row and the next slot of its bank's queue (32 bits each, what the walks along a queue read), and its
    # arrival cycle and number. A channel's slots lie together, so its queues stay in few cache lines.
    slots = read_q + write_q
    if units * slots >= 1 << 31:
        raise ValueError("too many queue entries for 32-bit slot numbers")
    row_span = 1
    for k in range(mapping.shape[0]):
        if mapping[k, 0] == 4:
            row_span *= mapping[k, 1]
    if row_span >= 1 << 31:
        raise ValueError("too many rows for 32-bit row numbers")
    slot_link = np.zeros((units * slots, 2), np.int32)  # L_NEXT, L_ROW
    slot_time = np.zeros((units * slots, 2), np.int64)  # arrival cycle, request number
    slot_free = np.empty(units * slots, np.int32)  # per channel, a stack of its free slots
    for u in range(units):
        for i in range(slots):
            slot_free[u * slots + i] = u * slots + slots - 1 - i
    n_slot_free = np.full(units, slots, np.int64)
    # Requests issued that wait for room in their channel's queue, in order: entries from a pool (they are
    # outstanding, so at most q wait), a list per channel.
    waiting = max(min(q, n), 1)
    if waiting >= 1 << 31:
        raise ValueError("too many requests outstanding for 32-bit entry numbers")
    pend = np.zeros((waiting, 4), np.int64)  # W_*, one 32-byte record
    pend_free = np.arange(waiting - 1, -1, -1).astype(np.int64)
    n_pend_free = waiting

    # The channels' next visits: a tournament tree of keys (cycle << shift) | unit, the least at tree[1].
    shift = 1
    while (1 << shift) < units:
        shift += 1
    unit_bits = (1 << shift) - 1
    half = 1
    while half < units:
        half <<= 1
    tree = np.full(2 * half, NO_VISIT, np.int64)
    for u in range(units):
        if us[u, U_NEXT] < INF:
            tree_set(tree, half + u, (us[u, U_NEXT] << shift) | u)
    # Completion cycles, in order: reads and writes each finish a fixed time after their column command, and
    # column commands are issued in time order, so each is a queue (a ring of pool + 1 places: at most q
    # outstanding plus the posted writes queued).
    pool = max(min(q + units * write_q, n), 1)
    done_q = np.zeros((2, pool + 1), np.int64)
    done_first = np.zeros(2, np.int64)
    done_count = np.zeros(2, np.int64)
    touched = np.zeros(8, np.int64)  # banks whose candidate a visit changed (the ones it issued to, admitted to)

    def enqueue(u, bank, w, row, arrive, seq, at):
        """Request number `seq` (bank `bank`, a write if `w`, row `row`, issued at `arrive`) joins its bank's
        queue on channel `u` at cycle `at` (it then counts against its queue's room; a write is posted, so its
        requester slot frees now)."""
        n_slot_free[u] -= 1
        e = slot_free[u * slots + n_slot_free[u]]
        slot_link[e, L_NEXT] = -1
        slot_link[e, L_ROW] = row
        slot_time[e, 0] = arrive
        slot_time[e, 1] = seq
        ub = u * banks + bank
        lst = ub * 2 + w
        # The bank's cached candidate (for the channel's mode, us[u, U_MODE]) changes only if the request joins
        # that mode's queue and is its head, or is the first request to hit the open row (its column command
        # then replaces the PRE of the head); otherwise the bank's entry in the scan stays as it is.
        if tail[lst] < 0:
            head[lst] = e
            bs[ub, B_ARR + w] = arrive
            if w == us[u, U_MODE]:
                bs[ub, B_CAND] = -1
                mark_dirty(u, bank)
        else:
            slot_link[tail[lst], L_NEXT] = e
            if (w == us[u, U_MODE] and bs[ub, B_CAND] >= 0 and bs[ub, B_CMD] == CMD_PRE and bs[ub, B_STARVING] == 0
                    and row == bc[ub, C_OPEN]):
                bs[ub, B_CAND] = e
                bs[ub, B_CMD] = CMD_WR if w == 1 else CMD_RD
                bs[ub, B_PRIO] = seq
                bs[ub, B_READY] = bc[ub, C_WR if w == 1 else C_RD]
                mark_dirty(u, bank)
        tail[lst] = e
        us[u, U_READS + w] += 1
        if w == 1:
            at_w = done_first[1] + done_count[1]
            done_q[1, at_w if at_w <= pool else at_w - pool - 1] = at
            done_count[1] += 1

    def candidate(ub, mode, starving):
        """Work out the command bank `ub` would issue next in `mode` (0 reads, 1 writes), its head starving or not:
        a column command to its open row for the oldest request that hits it, else the oldest request's PRE or
        ACT; a head that has waited more than `cap` cycles goes first, hits or not. Cached in bs[ub] until the
        bank changes."""
        bs[ub, B_STARVING] = starving
        h = head[ub * 2 + mode]
        r = bc[ub, C_OPEN]
        column = CMD_WR if mode == 1 else CMD_RD
        e = h
        c = CMD_ACT
        if r >= 0:
            c = CMD_PRE
            if starving == 1:
                if slot_link[h, L_ROW] == r:
                    c = column
            else:
                x = h
                while x >= 0 and slot_link[x, L_ROW] != r:
                    x = slot_link[x, L_NEXT]
                if x >= 0:
                    e = x
                    c = column
        bs[ub, B_CAND] = e
        bs[ub, B_CMD] = c
        bs[ub, B_PRIO] = slot_time[e, 1]
        bs[ub, B_READY] = bc[ub, c + C_ACT]  # (C_ACT, C_PRE, C_RD, C_WR in the order of CMD_*)

    def settle(ub, u, b, mode, t):
        """Bank `ub` (bank `b` of its channel) as the scan reads it at cycle `t` in `mode`: its candidate's class,
        the cycle its bank and bank group allow it, its priority key and the cycle its head starts starving. A
        head not starving at `t` that starves by a later visit's cycle is caught by that visit's `flips`, so an
        entry settled at the end of a visit is the one the next visit would work out."""
        arrived = bs[ub, B_ARR + mode]
        if arrived == INF:
            sel_key[ub] = SEL_NONE
            sel_ready[ub] = INF
            flip = INF
        else:
            flip = arrived + cap_flip
            starving = 1 if flip <= t else 0
            if starving == 1:
                flip = INF
            if bs[ub, B_CAND] < 0 or bs[ub, B_STARVING] != starving:
                candidate(ub, mode, starving)  # recompute the cached candidate
            c = bs[ub, B_CMD]
            # the priority: starving heads first, then the oldest; the bank, then the class in the low bits
            key = ((((1 - starving) << key_bits) + bs[ub, B_PRIO]) << bank_bits) + b
            if bs[ub, B_REF] == 1:
                sel_key[ub] = SEL_NONE
                sel_ready[ub] = INF
            else:
                sel_key[ub] = (key << 2) + (SEL_COLUMN if c >= CMD_RD else (SEL_ACT if c == CMD_ACT else SEL_PRE))
                sel_ready[ub] = max(bs[ub, B_READY], gs[group_of(ub), c])
        old = sel_flip[ub]
        if flip != old:
            sel_flip[ub] = flip
            least = us[u, U_FLIPS]
            if flip < least:
                us[u, U_FLIPS] = flip
            elif old == least:
                us[u, U_FLIPS] = FLIPS_STALE

    # The stream's next request, `issued`, is burst piece_r of piece `piece` (chunk bursts from piece_at; a write
    # when piece_w is 1): advanced request by request, without a division each.
    kind = g[G_KIND]
    chunk = max(g[G_CHUNK], 1)
    space = g[G_SPACE]
    granules = space // chunk
    inv_granules = 1.0 / granules
    inv_size = np.empty(mapping.shape[0], np.float64)  # per mapping row, 1 / its size (divide)
    digits = np.zeros(5, np.int64)  # a request's channel, bank group, bank, column and row, as the mapping adds them
    for k in range(mapping.shape[0]):
        inv_size[k] = 1.0 / mapping[k, 1]
    write_num = g[G_WRITE_NUM]
    write_den = g[G_WRITE_DEN]
    piece = 0
    piece_r = 0
    piece_at = 0
    piece_w = 0
    write_rem = 0  # (piece × write_num) mod write_den
    if kind == KIND_STRIDED:
        piece_at = g[G_BASE] % space
    elif kind == KIND_GATHER:
        piece_at = (mix(0, g[G_SEED]) % granules) * chunk
    if kind != KIND_EXPLICIT:
        piece_w = 1 if write_num >= write_den else 0
        write_rem = write_num - write_den * piece_w
    issued = 0
    served = 0
    outstanding = 0
    now = 0
    elapsed = 0
    first_issue = -1
    while served < n:
        # The requester's next cycle: when a slot frees (concurrency) or the next request arrives.
        host_t = INF
        if issued < n:
            if outstanding >= q:
                for m in range(2):
                    if done_count[m] > 0:
                        host_t = min(host_t, max(done_q[m, done_first[m]], now))
            else:
                host_t = max(arrivals[issued], now) if timed_arrivals else now
        key = tree[1]
        unit_t = INF if key == NO_VISIT else key >> shift
        if host_t <= unit_t and host_t < INF:
            now = host_t
            for m in range(2):
                while done_count[m] > 0 and done_q[m, done_first[m]] <= now:
                    done_first[m] = done_first[m] + 1 if done_first[m] < pool else 0
                    done_count[m] -= 1
                    outstanding -= 1
            while issued < n and outstanding < q and (not timed_arrivals or arrivals[issued] <= now):
                if kind == KIND_EXPLICIT:
                    a = stream_address(g, issued, addresses)
                    w = 1 if stream_is_write(g, issued, writes) else 0
                else:  # as stream_address and stream_is_write give, one piece at a time
                    a = piece_at + piece_r
                    if kind == KIND_STRIDED and a >= space:
                        a %= space
                    w = piece_w
                    piece_r += 1
                    if piece_r == chunk:
                        piece_r = 0
                        piece += 1
                        if kind == KIND_STRIDED:
                            piece_at += g[G_STRIDE]
                            if piece_at >= space:
                                piece_at %= space
                        else:
                            piece_at = divide(mix(piece, g[G_SEED]), granules, inv_granules)[1] * chunk
                        piece_w = 1 if write_rem + write_num >= write_den else 0
                        write_rem += write_num - write_den * piece_w
                for k in range(5):
                    digits[k] = 0
                for k in range(mapping.shape[0]):
                    size = mapping[k, 1]
                    if mapping[k, 4] >= 0:
                        rest = a >> mapping[k, 4]
                        digit = a & (size - 1)
                    else:
                        rest, digit = divide(a, size, inv_size[k])
                    if mapping[k, 3] != 0:  # hashed: the digit shifted by a scramble of the digits above it
                        digit = divide(digit + mix(rest, mapping[k, 3]), size, inv_size[k])[1]
                    a = rest
                    digits[mapping[k, 0]] += digit * mapping[k, 2]  # (indexed: no branch on the field)
                unit = digits[0]
                group = digits[1]
                bank = digits[2]
                row = digits[4]
                if first_issue < 0:
                    first_issue = now
                if us[unit, U_PEND_HEAD] < 0 and ((w == 0 and us[unit, U_READS] < read_q)
                                                 or (w == 1 and us[unit, U_WRITES] < write_q)):
                    enqueue(unit, group * per_group + bank, w, row, now, issued, now)
                    if us[unit, U_NEXT] > now:
                        us[unit, U_NEXT] = now
                        tree_set(tree, half + unit, (now << shift) | unit)
                else:
                    n_pend_free -= 1
                    e = pend_free[n_pend_free]
                    pend[e, W_NEXT] = -1
                    pend[e, W_WHERE] = (row << 32) | ((group * per_group + bank) << 1) | w
                    pend[e, W_ARR] = now
                    pend[e, W_SEQ] = issued
                    if us[unit, U_PEND_TAIL] < 0:
                        us[unit, U_PEND_HEAD] = e
                    else:
                        pend[us[unit, U_PEND_TAIL], W_NEXT] = e
                    us[unit, U_PEND_TAIL] = e
                issued += 1
                outstanding += 1
            continue
        if unit_t >= INF:
            break  # nothing can happen any more (cannot occur for a well-formed stream)
        now = unit_t
        t = now
        u = key & unit_bits
        stats[S_UNIT_VISITS] += 1
        base = u * banks
        mode = write_mode(us[u, U_MODE], us[u, U_READS], us[u, U_WRITES], high, low)
        if mode != us[u, U_MODE]:
            us[u, U_MODE] = mode
            for b in range(banks):
                bs[base + b, B_CAND] = -1
                mark_dirty(u, b)
        # Refresh: becomes pending when due; its commands come first on the row bus.
        ref_cmd = -1  # CMD_PRE, CMD_REF or CMD_REFPB
        ref_target = -1
        ref_ready = INF
        if refresh != REFRESH_NONE:
            if us[u, U_REF_PENDING] == 0 and t >= us[u, U_REF_DUE]:
                us[u, U_REF_PENDING] = 1
                if refresh == REFRESH_PER_BANK:
                    bs[base + us[u, U_REF_BANK], B_REF] = 1
                    mark_dirty(u, us[u, U_REF_BANK])
            if us[u, U_REF_PENDING] == 1:
                if refresh == REFRESH_PER_BANK:
                    b = us[u, U_REF_BANK]
                    if bc[base + b, C_OPEN] >= 0:
                        ref_cmd = CMD_PRE
                        ref_ready = max(bc[base + b, C_PRE], us[u, U_ROW_BUS])
                    else:
                        ref_cmd = CMD_REFPB
                        ref_ready = max(bc[base + b, C_ACT], us[u, U_ROW_BUS], us[u, U_REF_OK])
                    ref_target = b
                else:
                    ref_cmd = CMD_REF
                    ref_ready = us[u, U_ROW_BUS]
                    for b in range(banks):
                        if bc[base + b, C_OPEN] >= 0:
                            ready = max(bc[base + b, C_PRE], us[u, U_ROW_BUS])
                            if ref_cmd != CMD_PRE or ready < ref_ready:
                                ref_cmd = CMD_PRE
                                ref_target = b
                                ref_ready = ready
                        elif ref_cmd == CMD_REF:
                            ref_ready = max(ref_ready, bc[base + b, C_ACT])
        all_bank_pending = refresh == REFRESH_ALL_BANK and us[u, U_REF_PENDING] == 1
        # FR-FCFS over the banks' candidates (the minima below; passed_*: ready candidates not issued this cycle).
        faw_ready = us[u, U_FAW + us[u, U_FAW_AT]] + n_faw
        unit_ready[CMD_ACT] = max(us[u, U_ACT], faw_ready, us[u, U_ROW_BUS])
        unit_ready[CMD_PRE] = us[u, U_ROW_BUS]
        unit_ready[CMD_RD] = max(us[u, U_RD], us[u, U_COL_BUS])
        unit_ready[CMD_WR] = max(us[u, U_WR], us[u, U_COL_BUS])
        col_ready = INF if all_bank_pending else unit_ready[CMD_WR if mode == 1 else CMD_RD]
        act_ready = INF if all_bank_pending else unit_ready[CMD_ACT]
        pre_ready = INF if all_bank_pending else unit_ready[CMD_PRE]
        # Work out again the candidates of the banks that changed, and of those whose head starts starving now
        # (rarely), then take FR-FCFS's choice as minima over the channel's banks, without branches (whether a
        # candidate is ready is what the branch predictor cannot guess).
        for wd in range(words):
            bits = dirty[u * words + wd]
            dirty[u * words + wd] = 0
            while bits != 0:
                one = bits & -bits
                bits ^= one
                b = (wd << 5) + LOW_BIT[((one * DE_BRUIJN) & 0xFFFFFFFF) >> 27]
                settle(base + b, u, b, mode, t)
        for again in range(2):
            flips = us[u, U_FLIPS]
            if flips == FLIPS_STALE:
                flips = INF
                for b in range(banks):
                    flips = min(flips, sel_flip[base + b])
                us[u, U_FLIPS] = flips
            if flips > t or again == 1:
                break
            for b in range(banks):
                if sel_flip[base + b] <= t:
                    settle(base + b, u, b, mode, t)
        soonest = INF
        best_col_key = NO_KEY
        best_row_key = NO_KEY
        passed = 0  # the ready candidates per class, 16-bit fields (SEL_COLUMN lowest)
        for b in range(banks):
            ub = base + b
            v = sel_key[ub]
            cls = v & 3
            # (a bank without a candidate has sel_ready INF: whatever its channel allows, it is not ready)
            ready = max(sel_ready[ub], col_ready if cls == SEL_COLUMN else (
                act_ready if cls == SEL_ACT else pre_ready))
            ok = ready <= t
            soonest = min(soonest, INF if ok else ready)
            ready_key = v if ok else NO_KEY
            best_col_key = min(best_col_key, ready_key if cls == SEL_COLUMN else NO_KEY)
            best_row_key = min(best_row_key, NO_KEY if cls == SEL_COLUMN else ready_key)
            passed += (1 << (cls << 4)) if ok else 0
        passed_col = passed & 0xFFFF
        passed_act = (passed >> 16) & 0xFFFF
        passed_pre = (passed >> 32) & 0xFFFF
        if banks >= 1 << 16:  # (fields too narrow: counted again, apart)
            passed_col = 0
            passed_act = 0
            passed_pre = 0
            for b in range(banks):
                ub = base + b
                cls = sel_key[ub] & 3
                if max(sel_ready[ub], col_ready if cls == SEL_COLUMN else (
                        act_ready if cls == SEL_ACT else pre_ready)) <= t:
                    passed_col += 1 if cls == SEL_COLUMN else 0
                    passed_act += 1 if cls == SEL_ACT else 0
                    passed_pre += 1 if cls == SEL_PRE else 0
        soonest = min(soonest, flips)
        bank_mask = (1 << bank_bits) - 1
        best_col = -1 if best_col_key == NO_KEY else (best_col_key >> 2) & bank_mask
        best_row = -1 if best_row_key == NO_KEY else (best_row_key >> 2) & bank_mask
        n_touched = 0
        # The row bus: a refresh command first, then the best ACT or PRE (with one bus, only if no column command).
        row_free = dual or best_col < 0
        if ref_cmd >= 0 and ref_ready <= t and row_free:
            us[u, U_ROW_BUS] = t + 1
            if not dual:
                us[u, U_COL_BUS] = t + 1
            ub = base + ref_target
            if ref_cmd == CMD_PRE:
                bc[ub, C_OPEN] = -1
                bc[ub, C_ACT] = max(bc[ub, C_ACT], t + p[P_RP])
                bs[ub, B_CAND] = -1
                mark_dirty(u, ref_target)
                stats[S_PRES] += 1
            elif ref_cmd == CMD_REFPB:
                bc[ub, C_ACT] = t + p[P_RFCPB]
                bs[ub, B_REF] = 0
                bs[ub, B_CAND] = -1
                mark_dirty(u, ref_target)
                us[u, U_REF_OK] = t + p[P_RREFD]
                us[u, U_ACT] = max(us[u, U_ACT], t + p[P_RREFD])
                us[u, U_REF_BANK] = (ref_target + 1) % banks
                stats[S_REFRESH_BANK_CYCLES] += p[P_RFCPB]
            else:
                for b in range(banks):
                    bc[base + b, C_ACT] = t + p[P_RFC]
                    bs[base + b, B_CAND] = -1
                    mark_dirty(u, b)
                stats[S_REFRESH_BANK_CYCLES] += p[P_RFC] * banks
            if ref_cmd != CMD_PRE:
                us[u, U_REF_PENDING] = 0
                us[u, U_REF_DUE] += interval
                stats[S_REFS] += 1
            if n_log < log_cap:
                log[n_log, 0] = t
                log[n_log, 1] = ref_cmd
                log[n_log, 2] = u
                log[n_log, 3] = ref_target
                log[n_log, 4] = -1
                n_log += 1
            row_free = False
            ref_cmd = -2  # issued
        if best_row >= 0 and row_free:
            ub = base + best_row
            e = bs[ub, B_CAND]
            c = bs[ub, B_CMD]
            if c == CMD_ACT:
                passed_act -= 1
            else:
                passed_pre -= 1
            grp = group_of(ub)
            us[u, U_ROW_BUS] = t + 1
            if not dual:
                us[u, U_COL_BUS] = t + 1
            if c == CMD_ACT:
                bc[ub, C_OPEN] = slot_link[e, L_ROW]
                bc[ub, C_RD] = t + p[P_RCD]
                bc[ub, C_WR] = t + p[P_RCDWR]
                bc[ub, C_PRE] = max(bc[ub, C_PRE], t + p[P_RAS])
                bc[ub, C_ACT] = max(bc[ub, C_ACT], t + p[P_RC])
                us[u, U_ACT] = max(us[u, U_ACT], t + p[P_RRD_S])
                gs[grp, R_ACT] = max(gs[grp, R_ACT], t + p[P_RRD_L])
                first = ub - best_row % per_group
                for x in range(first, first + per_group):
                    if sel_key[x] & 3 == SEL_ACT:
                        sel_ready[x] = max(sel_ready[x], gs[grp, R_ACT])
                us[u, U_FAW + us[u, U_FAW_AT]] = t
                us[u, U_FAW_AT] = (us[u, U_FAW_AT] + 1) % 4
                stats[S_ACTS] += 1
            else:
                bc[ub, C_OPEN] = -1
                bc[ub, C_ACT] = max(bc[ub, C_ACT], t + p[P_RP])
                stats[S_PRES] += 1
            bs[ub, B_CAND] = -1
            mark_dirty(u, best_row)
            touched[n_touched] = best_row
            n_touched += 1
            if n_log < log_cap:
                log[n_log, 0] = t
                log[n_log, 1] = c
                log[n_log, 2] = u
                log[n_log, 3] = best_row
                log[n_log, 4] = bc[ub, C_OPEN] if c == CMD_ACT else -1
                n_log += 1
        if best_col >= 0:
            passed_col -= 1
            ub = base + best_col
            e = bs[ub, B_CAND]
            grp = group_of(ub)
            us[u, U_COL_BUS] = t + 1
            if not dual:
                us[u, U_ROW_BUS] = t + 1
            if mode == 0:
                us[u, U_RD] = max(us[u, U_RD], t + p[P_CCD_S])
                us[u, U_WR] = max(us[u, U_WR], t + p[P_RTW])
                gs[grp, R_RD] = max(gs[grp, R_RD], t + p[P_CCD_L])
                bc[ub, C_PRE] = max(bc[ub, C_PRE], t + p[P_RTP])
                done = t + p[P_CL] + n_bl
                stats[S_READS] += 1
            else:
                us[u, U_WR] = max(us[u, U_WR], t + p[P_CCD_S_WR])
                us[u, U_RD] = max(us[u, U_RD], t + p[P_CWL] + n_bl + p[P_WTR_S])
                gs[grp, R_WR] = max(gs[grp, R_WR], t + p[P_CCD_L_WR])
                gs[grp, R_RD] = max(gs[grp, R_RD], t + p[P_CWL] + n_bl + p[P_WTR_L])
                bc[ub, C_PRE] = max(bc[ub, C_PRE], t + p[P_CWL] + n_bl + p[P_WR])
                done = t + p[P_CWL] + n_bl
                stats[S_WRITES] += 1
            first = ub - best_col % per_group
            for x in range(first, first + per_group):
                if sel_key[x] & 3 == SEL_COLUMN:
                    sel_ready[x] = max(sel_ready[x], gs[grp, R_WR if mode == 1 else R_RD])
            us[u, U_READS + mode] -= 1
            if n_log < log_cap:
                log[n_log, 0] = t
                log[n_log, 1] = CMD_WR if mode == 1 else CMD_RD
                log[n_log, 2] = u
                log[n_log, 3] = best_col
                log[n_log, 4] = slot_link[e, L_ROW]
                n_log += 1
            # Out of its bank's queue.
            lst = ub * 2 + mode
            if head[lst] == e:
                head[lst] = slot_link[e, L_NEXT]
                if head[lst] < 0:
                    tail[lst] = -1
                    bs[ub, B_ARR + mode] = INF
                else:
                    bs[ub, B_ARR + mode] = slot_time[head[lst], 0]
            else:
                prev = head[lst]
                while slot_link[prev, L_NEXT] != e:
                    prev = slot_link[prev, L_NEXT]
                slot_link[prev, L_NEXT] = slot_link[e, L_NEXT]
                if tail[lst] == e:
                    tail[lst] = prev
            bs[ub, B_CAND] = -1
            mark_dirty(u, best_col)
            touched[n_touched] = best_col
            n_touched += 1
            if closed:  # auto-precharge after the last queued request to the row
                still = False
                for m in range(2):
                    x = head[ub * 2 + m]
                    while x >= 0:
                        if slot_link[x, L_ROW] == bc[ub, C_OPEN]:
                            still = True
                            break
                        x = slot_link[x, L_NEXT]
                if not still:
                    bc[ub, C_OPEN] = -1
                    bc[ub, C_ACT] = max(bc[ub, C_ACT], bc[ub, C_PRE] + p[P_RP])
            latency = done - slot_time[e, 0]
            if mode == 0:
                stats[S_LATENCY_SUM] += latency
                if latency > stats[S_LATENCY_MAX]:
                    stats[S_LATENCY_MAX] = latency
            else:
                stats[S_WRITE_LATENCY_SUM] += latency
            hist[mode, min(latency, HISTOGRAM - 1)] += 1
            if done > elapsed:
                elapsed = done
            if mode == 0:
                at_r = done_first[0] + done_count[0]
                done_q[0, at_r if at_r <= pool else at_r - pool - 1] = done
                done_count[0] += 1
            served += 1
            slot_free[u * slots + n_slot_free[u]] = e
            n_slot_free[u] += 1
            # Admit waiting requests, in order, while their queue has room.
            while us[u, U_PEND_HEAD] >= 0:
                x = us[u, U_PEND_HEAD]
                where = pend[x, W_WHERE]
                wx = where & 1
                if us[u, U_READS + wx] >= (write_q if wx == 1 else read_q):
                    break
                us[u, U_PEND_HEAD] = pend[x, W_NEXT]
                if us[u, U_PEND_HEAD] < 0:
                    us[u, U_PEND_TAIL] = -1
                bx = (where & 0xFFFFFFFF) >> 1
                enqueue(u, bx, wx, where >> 32, pend[x, W_ARR], pend[x, W_SEQ], t)
                pend_free[n_pend_free] = x
                n_pend_free += 1
                if n_touched < touched.shape[0]:
                    touched[n_touched] = bx
                n_touched += 1
        # This channel's next visit: the first cycle at which anything could change. Candidates not ready stay
        # not ready before `soonest` (constraints only grow); ready ones passed over, a refresh held back or a
        # change of mode need the next cycle; the banks this visit changed are evaluated again.
        nxt = soonest
        if passed_col > 0:  # no sooner than the channel's column constraints now allow
            nxt = min(nxt, max(us[u, U_COL_BUS], us[u, U_WR] if mode == 1 else us[u, U_RD]))
        if passed_pre > 0:
            nxt = min(nxt, us[u, U_ROW_BUS])
        if passed_act > 0:
            nxt = min(nxt, max(us[u, U_ROW_BUS], us[u, U_ACT], us[u, U_FAW + us[u, U_FAW_AT]] + n_faw))
        if ref_cmd >= 0 and ref_ready <= t:
            nxt = t + 1
        elif ref_cmd >= 0:
            nxt = min(nxt, ref_ready)
        elif ref_cmd == -1 and refresh != REFRESH_NONE:
            nxt = min(nxt, us[u, U_REF_DUE])
        if ref_cmd == -2:
            nxt = t + 1  # the refresh's next step, or the banks it released
        if n_touched > touched.shape[0] or write_mode(mode, us[u, U_READS], us[u, U_WRITES], high, low) != mode:
            nxt = t + 1
        elif nxt > t + 1:  # settle the changed banks now (the next visit need not) and take their cycles
            if all_bank_pending:
                col_ready = INF
                act_ready = INF
                pre_ready = INF
            else:
                col_ready = max(us[u, U_WR] if mode == 1 else us[u, U_RD], us[u, U_COL_BUS])
                act_ready = max(us[u, U_ACT], us[u, U_FAW + us[u, U_FAW_AT]] + n_faw, us[u, U_ROW_BUS])
                pre_ready = us[u, U_ROW_BUS]
            for i in range(n_touched):
                b = touched[i]
                ub = base + b
                if (dirty[u * words + (b >> 5)] >> (b & 31)) & 1 == 0:
                    continue  # (a request admitted without changing its bank's entry: in the scan already)
                settle(ub, u, b, mode, t)
                dirty[u * words + (b >> 5)] &= ~(1 << (b & 31))
                cls = sel_key[ub] & 3
                unit_allows = col_ready if cls == SEL_COLUMN else (
                    act_ready if cls == SEL_ACT else (pre_ready if cls == SEL_PRE else INF))
                nxt = min(nxt, max(sel_ready[ub], unit_allows), sel_flip[ub])
        if nxt <= t:
            nxt = t + 1
        us[u, U_NEXT] = nxt
        tree_set(tree, half + u, (nxt << shift) | u if nxt < INF else NO_VISIT)
    stats[S_ELAPSED] = elapsed
    stats[S_BYTES] = served * p[P_BURST_BYTES]
    stats[S_LOGGED] = n_log
    stats[S_FIRST_ISSUE] = first_issue
    return stats, hist, log[:n_log]
