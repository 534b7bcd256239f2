"""The cycle-level DRAM model (kernels/dram.py), tiered as Ramulator 2's own tests are:
1. exact timing: for every JEDEC constraint a stream in which it binds, and the second command issued at
   exactly the first cycle the constraint allows (`earliest`), while the same command one cycle earlier is
   refused by an independent checker (`violations`) — "clk−1 blocked, clk ready";
2. every command of random mixed streams, on every preset, obeys every constraint (the same checker);
3. closed forms: unloaded latencies, the streaming peak, refresh overhead, the tFAW bound on row misses;
4. conservation and no starvation;
5. streaming efficiency against measured hardware, nothing fitted.
The checker below is written from the constraint table in docs/memory.md, not from the kernel."""

from pathlib import Path

import numpy as np
import pytest

from simulator.config.loader import load_chip
from simulator.config.memory import memory_names
from simulator.hardware.dram import address_of, chip_dram, dram_system, pattern, simulate
from simulator.kernels import dram as k

ACT, PRE, RD, WR, REF, REFPB = k.CMD_ACT, k.CMD_PRE, k.CMD_RD, k.CMD_WR, k.CMD_REF, k.CMD_REFPB
NAMES = {ACT: "ACT", PRE: "PRE", RD: "RD", WR: "WR", REF: "REF", REFPB: "REFpb"}


# ---- the independent checker -----------------------------------------------------------------------------

def constraints(system, log, i):
    """Every (earliest cycle, name) that earlier commands impose on command i of the log, one channel's rules."""
    t = system.timing
    per_group = system.spec.banks
    _, cmd, unit, bank, _ = log[i]
    out = []
    acts = []
    for j in range(i):
        ty, cy, uy, by, _ = log[j]
        if uy != unit:
            continue
        same_bank = by == bank
        same_group = by // per_group == bank // per_group
        if cmd == ACT:
            if cy == ACT:
                acts.append(ty)
                if same_bank:
                    out.append((ty + t["nRC"], "nRC"))
                else:
                    name = "nRRD_L" if same_group else "nRRD_S"
                    out.append((ty + t[name], name))
            elif cy == PRE and same_bank:
                out.append((ty + t["nRP"], "nRP"))
            elif cy == REF:
                out.append((ty + t["nRFC"], "nRFC"))
            elif cy == REFPB:
                out.append((ty + t["nRFCpb"], "nRFCpb") if same_bank else (ty + t["nRREFD"], "nRREFD"))
        elif cmd in (RD, WR):
            if cy == ACT and same_bank:
                out.append((ty + t["nRCD"], "nRCD") if cmd == RD else (ty + t["nRCDWR"], "nRCDWR"))
            elif cy == RD and cmd == RD:
                out.append((ty + t["nCCD_L"], "nCCD_L") if same_group else (ty + t["nCCD_S"], "nCCD_S"))
            elif cy == WR and cmd == WR:
                out.append((ty + t["nCCD_L_WR"], "nCCD_L_WR") if same_group else (ty + t["nCCD_S_WR"], "nCCD_S_WR"))
            elif cy == RD and cmd == WR:
                out.append((ty + t["nRTW"], "nRTW"))
            elif cy == WR and cmd == RD:
                wtr = "nWTR_L" if same_group else "nWTR_S"
                out.append((ty + t["nCWL"] + t["nBL"] + t[wtr], wtr))
        elif cmd == PRE and same_bank:
            if cy == ACT:
                out.append((ty + t["nRAS"], "nRAS"))
            elif cy == RD:
                out.append((ty + t["nRTP"], "nRTP"))
            elif cy == WR:
                out.append((ty + t["nCWL"] + t["nBL"] + t["nWR"], "nWR"))
        elif cmd == REF and cy in (ACT, PRE):
            out.append((ty + (t["nRC"] if cy == ACT else t["nRP"]), "nRC" if cy == ACT else "nRP"))
        elif cmd == REFPB and same_bank and cy in (ACT, PRE):
            out.append((ty + (t["nRC"] if cy == ACT else t["nRP"]), "nRC" if cy == ACT else "nRP"))
        elif cmd == REFPB and cy == REFPB:
            out.append((ty + t["nRREFD"], "nRREFD"))
    if cmd == ACT and len(acts) >= 4:
        out.append((acts[-4] + t["nFAW"], "nFAW"))
    return out


def earliest(system, log, i):
    """The first cycle at which command i may issue, given the commands before it, and the constraint that sets it."""
    return max(constraints(system, log, i), default=(0, "none"))


def violations(system, log):
    """Every command issued before a constraint allows, out of row state, or sharing a cycle on a bus."""
    found = []
    for unit in np.unique(log[:, 2]):
        found += _channel_violations(system, log[log[:, 2] == unit])
    return found


def _channel_violations(system, log):
    found = []
    open_rows = {}
    bus = set()
    dual = system.spec.dual_command_bus
    banks = system.banks
    longest = max(system.timing.values())  # no constraint reaches further back than this
    start = 0
    for i, (t, cmd, unit, bank, row) in enumerate(log):
        while log[start, 0] < t - longest:
            start += 1
        window = log[start: i + 1]
        limit, name = earliest(system, window, i - start)
        if t < limit:
            found.append(f"{NAMES[cmd]}@{t} unit {unit} bank {bank}: {name} allows {limit}")
        key = (unit, t, (cmd in (RD, WR)) if dual else 0)
        if key in bus:
            found.append(f"{NAMES[cmd]}@{t} unit {unit}: second command on the bus in one cycle")
        bus.add(key)
        here = (unit, bank)
        if cmd == ACT:
            if here in open_rows:
                found.append(f"ACT@{t} to an open bank {here}")
            open_rows[here] = row
        elif cmd == PRE:
            if here not in open_rows:
                found.append(f"PRE@{t} to a closed bank {here}")
            open_rows.pop(here, None)
        elif cmd in (RD, WR):
            if open_rows.get(here) != row:
                found.append(f"{NAMES[cmd]}@{t} to row {row} of {here}, open {open_rows.get(here)}")
        elif cmd == REF:
            if any(u == unit for u, _ in open_rows):
                found.append(f"REF@{t} with banks open in unit {unit}")
        elif cmd == REFPB and here in open_rows:
            found.append(f"REFpb@{t} to an open bank {here}")
        if not (0 <= bank < banks or cmd == REF and bank == -1):
            found.append(f"{NAMES[cmd]}@{t}: bank {bank} out of range")
    return found


# ---- streams aimed at one constraint ---------------------------------------------------------------------

def system(memory="hbm3", **controller):
    return dram_system(memory, 1, channel_hash=False, refresh=controller.pop("refresh", "none"), **controller)


def run(sys, requests, writes=None, arrivals=None, concurrency=64):
    """Requests as (bank_group, bank, row[, column]) in channel 0; returns the result and its command log."""
    addresses = [address_of(sys, 0, g, b, r, c[0] if c else 0) for g, b, r, *c in requests]
    result = simulate(sys, addresses=addresses, writes=writes, arrivals=arrivals, concurrency=concurrency, log=4096)
    assert violations(sys, result.log) == []
    return result, result.log


def commands(log, cmd):
    return [int(i) for i in np.flatnonzero(log[:, 1] == cmd)]


def binds(sys, log, i, name):
    """Command i was issued the cycle `name` allowed it: not one cycle early (the checker refuses that), not late."""
    limit, binding = earliest(sys, log, i)
    assert (binding, int(log[i, 0])) == (name, limit), (NAMES[log[i, 1]], log[i], binding, limit)
    early = log.copy()
    early[i, 0] -= 1
    assert any(name in v for v in violations(sys, early[: i + 1])), "one cycle earlier must break " + name


HBM3 = system()
T = HBM3.timing


def test_act_to_read_and_write_is_nrcd():
    _, log = run(HBM3, [(0, 0, 5)])
    binds(HBM3, log, commands(log, RD)[0], "nRCD")
    _, log = run(HBM3, [(0, 0, 5)], writes=[1])
    binds(HBM3, log, commands(log, WR)[0], "nRCDWR")
    assert T["nRCDWR"] != T["nRCD"]


def test_row_conflict_waits_nras_then_nrc():
    """Two rows of one bank at once: PRE at ACT + nRAS (45 > nRCD + nRTP = 40), the next ACT at ACT + nRC."""
    _, log = run(HBM3, [(0, 0, 1), (0, 0, 2)])
    binds(HBM3, log, commands(log, PRE)[0], "nRAS")
    binds(HBM3, log, commands(log, ACT)[1], "nRC")


def test_precharge_to_activate_is_nrp():
    _, log = run(HBM3, [(0, 0, 1), (0, 0, 2)], arrivals=[0, 300])
    binds(HBM3, log, commands(log, ACT)[1], "nRP")


def test_read_to_precharge_is_nrtp():
    """A late hit keeps the row open past nRAS; the conflicting request's PRE waits nRTP after it."""
    _, log = run(HBM3, [(0, 0, 1), (0, 0, 1, 4), (0, 0, 2)], arrivals=[0, 40, 40])
    binds(HBM3, log, commands(log, PRE)[0], "nRTP")


def test_write_recovery_is_nwr():
    _, log = run(HBM3, [(0, 0, 1), (0, 0, 2)], writes=[1, 1])
    binds(HBM3, log, commands(log, PRE)[0], "nWR")


def test_activates_of_other_banks_are_nrrd_s_or_l():
    _, log = run(HBM3, [(0, 0, 1), (1, 0, 1)])
    binds(HBM3, log, commands(log, ACT)[1], "nRRD_S")
    _, log = run(HBM3, [(0, 0, 1), (0, 1, 1)])
    binds(HBM3, log, commands(log, ACT)[1], "nRRD_L")


def test_fifth_activate_waits_for_the_faw_window():
    _, log = run(HBM3, [(g, 0, 1) for g in range(5)])
    acts = commands(log, ACT)
    assert [int(log[i, 0]) for i in acts[:4]] == [0, 4, 8, 12]  # nRRD_S apart
    binds(HBM3, log, acts[4], "nFAW")


def test_column_to_column_is_nccd_s_or_l():
    opened = [(0, 0, 1), (1, 0, 1), (0, 1, 1)]
    _, log = run(HBM3, opened + [(0, 0, 1, 4), (1, 0, 1, 4)], arrivals=[0, 0, 0, 200, 200])
    binds(HBM3, log, commands(log, RD)[-1], "nCCD_S")
    _, log = run(HBM3, opened + [(0, 0, 1, 4), (0, 1, 1, 4)], arrivals=[0, 0, 0, 200, 200])
    binds(HBM3, log, commands(log, RD)[-1], "nCCD_L")


def test_write_to_write_same_group_is_nccd_l_wr():
    """DDR5's write-to-write gap in a bank group (48 cycles) is four times its read one."""
    ddr5 = system("ddr5")
    _, log = run(ddr5, [(0, 0, 1), (0, 1, 1), (0, 0, 1, 4), (0, 1, 1, 4)], writes=[1, 1, 1, 1],
                 arrivals=[0, 0, 400, 400])
    binds(ddr5, log, commands(log, WR)[-1], "nCCD_L_WR")
    assert ddr5.timing["nCCD_L_WR"] == 48


def test_read_write_turnarounds():
    opened = [(0, 0, 1), (1, 0, 1)]
    _, log = run(HBM3, opened + [(0, 0, 1, 4), (0, 0, 1, 8)], writes=[0, 0, 0, 1], arrivals=[0, 0, 200, 201])
    binds(HBM3, log, commands(log, WR)[0], "nRTW")
    _, log = run(HBM3, opened + [(0, 0, 1, 4), (1, 0, 1, 4)], writes=[0, 0, 1, 0], arrivals=[0, 0, 200, 201])
    binds(HBM3, log, commands(log, RD)[-1], "nWTR_S")
    _, log = run(HBM3, opened + [(0, 0, 1, 4), (0, 0, 1, 8)], writes=[0, 0, 1, 0], arrivals=[0, 0, 200, 201])
    binds(HBM3, log, commands(log, RD)[-1], "nWTR_L")


def test_all_bank_refresh_every_nrefi_blocks_nrfc():
    sys = system(refresh="all_bank")
    refi = sys.timing["nREFI"]
    _, log = run(sys, [(0, 0, 1), (0, 0, 1, 4)], arrivals=[refi, 3 * refi + 5])
    refs = [i for i in commands(log, REF) if log[i, 2] == 0]
    # channel 0's refreshes fall due at nREFI, 2 nREFI, …; the row the first request left open is closed first,
    # so the second REF waits nRP after that PRE
    assert [int(log[i, 0]) for i in refs[:3]] == [refi, 2 * refi + sys.timing["nRP"], 3 * refi]
    binds(sys, log, commands(log, ACT)[0], "nRFC")
    binds(sys, log, refs[1], "nRP")


def test_per_bank_refresh_blocks_one_bank_nrfcpb():
    sys = system(refresh="per_bank")
    every = sys.timing["nREFI"] // sys.banks
    _, log = run(sys, [(0, 0, 1), (1, 0, 1)], arrivals=[every, every])
    refresh = [int(log[i, 0]) for i in commands(log, REFPB) if log[i, 2] == 0]
    assert refresh[:2] == [every, 2 * every] and log[commands(log, REFPB)[0], 3] == 0
    acts = commands(log, ACT)
    binds(sys, log, acts[0], "nRREFD")  # bank group 1 waits only the refresh-to-activate gap
    binds(sys, log, acts[1], "nRFCpb")  # bank 0 waits for its refresh


# ---- every command of random streams is legal --------------------------------------------------------------

@pytest.mark.parametrize("memory, refresh", [("hbm2", "per_bank"), ("hbm3", "per_bank"), ("hbm3", "all_bank"),
                                             ("ddr5", "all_bank"), ("lpddr5", "all_bank")])
def test_random_mixed_streams_obey_every_constraint(memory, refresh):
    sys = dram_system(memory, 1, refresh=refresh, read_queue=16, write_queue=16)
    rng = np.random.default_rng(3)
    n = 600
    rows = rng.integers(0, 4, n)  # few rows: hits, misses and conflicts
    banks = rng.integers(0, sys.banks, n)
    units = rng.integers(0, 2, n)
    addresses = [address_of(dram_system(memory, 1, channel_hash=False), u, b // sys.spec.banks, b % sys.spec.banks,
                            r, c) for u, b, r, c in zip(units, banks, rows, rng.integers(0, 4, n), strict=True)]
    sys = dram_system(memory, 1, refresh=refresh, read_queue=16, write_queue=16, channel_hash=False)
    arrivals = np.sort(rng.integers(0, 60 * n, n))  # long enough for refreshes
    result = simulate(sys, addresses=addresses, writes=rng.random(n) < 0.3, arrivals=arrivals, concurrency=48,
                      log=20000)
    assert result.reads + result.writes == n
    assert violations(sys, result.log) == []
    assert result.refreshes > 0 and {ACT, PRE, RD, WR} <= set(result.log[:, 1].tolist())


# ---- closed forms -----------------------------------------------------------------------------------------

def one_at_a_time(sys, requests):
    addresses = [address_of(sys, 0, g, b, r, c) for g, b, r, c in requests]
    return simulate(sys, addresses=addresses, concurrency=1)


def test_unloaded_latency_closed_forms():
    """(nRP + nRCD + nCL)·tCK + burst for a row miss on an open row, nCL·tCK + burst for a hit, nRCD + nCL +
    burst on a closed bank (dram.md §1); one request outstanding at a time."""
    hit = T["nCL"] + T["nBL"]
    closed = T["nRCD"] + T["nCL"] + T["nBL"]
    conflict = T["nRP"] + closed
    first = one_at_a_time(HBM3, [(0, 0, 1, 0)])
    assert first.read_latency_cycles == closed
    hits = one_at_a_time(HBM3, [(0, 0, 1, 0)] + [(0, 0, 1, c) for c in range(1, 9)])
    assert hits.read_latency_cycles * 9 == closed + 8 * hit
    # a conflict issued once nRAS has passed: PRE, ACT, RD back to back
    misses = simulate(HBM3, addresses=[address_of(HBM3, 0, 0, 0, r) for r in (1, 2)], arrivals=[0, 500],
                      concurrency=1)
    assert misses.read_latency_cycles * 2 == closed + conflict
    assert HBM3.cycles_to_s(conflict) == pytest.approx((26 + 31 + 20 + 2) * 0.625e-9)
    # closed-row policy: every access finds its bank closed
    policy = dram_system("hbm3", 1, channel_hash=False, refresh="none", row_policy="closed")
    rows = simulate(policy, addresses=[address_of(policy, 0, 0, 0, r) for r in (1, 2, 3)], arrivals=[0, 500, 1000],
                    concurrency=1)
    assert rows.read_latency_cycles == closed and rows.row_hit_rate == 0


@pytest.mark.parametrize("memory", memory_names())
def test_streaming_peak_is_channels_times_width_times_rate(memory):
    sys = dram_system(memory, 2, refresh="none")
    spec = sys.spec
    assert sys.peak_bytes_per_s == pytest.approx(2 * spec.channels * spec.pseudo_channels * spec.bus_width / 8
                                                 * sys.rate * 1e6)
    assert sys.peak_bytes_per_s == pytest.approx(sys.units * spec.burst_bytes / sys.timing["nBL"] * sys.clock_hz)
    result = simulate(sys, pattern("stream"), sys.units * 4096 * spec.burst_bytes)
    assert 0.98 < result.efficiency <= 1.0  # short of 1 by the first row openings only


def test_hbm3_stack_peak_is_819_gbs():
    assert dram_system("hbm3").peak_bytes_per_s == pytest.approx(819.2e9)


@pytest.mark.parametrize("memory", ["hbm2", "ddr5", "lpddr5"])
def test_all_bank_refresh_overhead_is_nrfc_over_nrefi(memory):
    """A stream loses tRFC per tREFI (dram.md §1), plus at most the row closing and reopening around it."""
    sys = dram_system(memory, 1, refresh="all_bank", channel_hash=False)
    t = sys.timing
    nbytes = 12 * t["nREFI"] * sys.units * sys.burst_bytes // t["nBL"]  # about 12 refresh intervals
    result = simulate(sys, pattern("stream"), nbytes)
    ideal = simulate(dram_system(memory, 1, refresh="none", channel_hash=False), pattern("stream"), nbytes)
    loss = 1 - result.efficiency / ideal.efficiency
    assert result.refresh_share == pytest.approx(t["nRFC"] / t["nREFI"], rel=0.1)  # whole refreshes in the run
    per_refresh = result.refresh_share / t["nRFC"]  # refreshes per channel-cycle
    # each refresh costs its nRFC, and at most: closing the rows (nRAS for one just opened, then nRP) and
    # reopening them (nRCD, the banks staggered by one nFAW window)
    around = max(t["nRAS"], t["nRTP"]) + t["nRP"] + t["nRCD"] + t["nFAW"]
    assert result.refresh_share * 0.99 < loss < result.refresh_share + per_refresh * around


def test_per_bank_refresh_share_is_nrfcpb_over_nrefi():
    sys = dram_system("hbm3", 1, refresh="per_bank")
    result = simulate(sys, pattern("stream"), 8 << 20)
    assert result.refresh_share == pytest.approx(sys.timing["nRFCpb"] / sys.timing["nREFI"], rel=0.03)


@pytest.mark.parametrize("memory", ["hbm3", "hbm2", "ddr5"])
def test_random_row_misses_are_bounded_by_tfaw(memory):
    """One burst per ACT: at most 4 bursts per nFAW and one per nRRD_S per channel, and the model gets close."""
    sys = dram_system(memory, 1, refresh="none")
    t, burst = sys.timing, sys.burst_bytes
    result = simulate(sys, pattern("random", chunk=burst), 4 << 20)
    assert result.row_hit_rate < 0.01
    per_cycle = result.efficiency * burst / t["nBL"]  # bytes per cycle per channel
    bound = min(4 * burst / t["nFAW"], burst / t["nRRD_S"], burst / t["nBL"])
    assert 0.85 * bound < per_cycle <= bound * 1.001


# ---- conservation, starvation -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["stream", "strided", "random", "kv-gather", "rows"])
def test_bytes_requested_are_bytes_served(kind):
    sys = dram_system("hbm2", 1)
    nbytes = 3 << 19
    result = simulate(sys, pattern(kind), nbytes, concurrency=300, read_fraction=0.7)
    assert result.bytes == nbytes and result.reads + result.writes == nbytes // sys.burst_bytes
    assert abs(result.writes / (result.reads + result.writes) - 0.3) < 0.01


def test_no_request_starves_behind_row_hits():
    """A conflicting request behind a long run of hits to the open row waits at most the cap plus one row cycle."""
    hits = [(0, 0, 1, c % 32) for c in range(400)]
    stream = [hits[0], (0, 0, 2, 0)] + hits[1:]

    def waited(cap):
        sys = system(starvation_cap=cap, read_queue=512)
        result, log = run(sys, stream, concurrency=len(stream))
        acts = commands(log, ACT)
        return int(log[acts[1], 0])  # when the second row opened

    assert waited(0) > 300 * T["nCCD_L"]  # uncapped FR-FCFS serves every hit first
    assert waited(100) <= 100 + T["nRTP"] + T["nRP"] + T["nCCD_L"] + T["nRCD"] + T["nCL"]


# ---- measured hardware ------------------------------------------------------------------------------------

def test_h100_stream_brackets_the_measured_reduction():
    """A 2^30-element sum reduction on H100 reaches 3240 GB/s, 96.7 % of 3.35 TB/s (measurements.md §2.1.2).
    The model, with nothing fitted, puts it between all-bank refresh (the Ramulator test setup: every bank
    blocked tRFC per tREFI) and per-bank refresh (HBM3's REFpb, the preset's choice)."""
    h100 = chip_dram(load_chip("h100"))
    assert (h100.devices, h100.units) == (5, 160) and h100.peak_bytes_per_s == pytest.approx(3.35e12)
    # one of its five stacks (channels are independent), over 8 refresh intervals
    nbytes = 8 * h100.timing["nREFI"] * 32 * h100.burst_bytes // h100.timing["nBL"]
    per_bank = simulate(dram_system(h100.spec, 1, h100.rate), pattern("stream"), nbytes)
    all_bank = simulate(dram_system(h100.spec, 1, h100.rate, refresh="all_bank"), pattern("stream"), nbytes)
    assert all_bank.refreshes >= 7 * 32 and per_bank.refreshes >= 7 * 32 * 32
    assert all_bank.efficiency < 0.967 < per_bank.efficiency <= 1.0


@pytest.mark.parametrize("chip", ["a100", "h100", "tpu_v4", "tpu_v5e", "tpu_v5p"])
def test_chip_streams_reach_the_band_cycle_models_reach(chip):
    """dram.md §7: a cycle-level HBM model with realistic interleaving reaches 90–97 % and more on long
    sequential streams; each chip's memory, from its preset's devices and bandwidth, lands at or above 90 %."""
    sys = chip_dram(load_chip(chip))
    result = simulate(sys, pattern("stream"), 8 << 20)
    assert 0.90 <= result.efficiency <= 1.0
    assert result.peak == pytest.approx(sys.peak_bytes_per_s)


# ---- the two ways of running the kernel -------------------------------------------------------------------

def test_interpreted_and_compiled_agree():
    sys = dram_system("hbm3", 1, read_queue=8, write_queue=8)
    from simulator.hardware.dram import mapping_table, parameters, stream_array

    args = (parameters(sys, 40, log=500), stream_array(sys, pattern("random"), 300, 0.6), mapping_table(sys),
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    compiled = k.simulate.compiled(*args)
    interpreted = k.simulate.interpret(*args)
    for a, b in zip(compiled, interpreted, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- the fast path ----------------------------------------------------------------------------------------

FAST_CASES = [  # pattern, bytes, concurrency (None: every queue full), read fraction; none a sample of the table
    ("stream", 3 << 20, None, 1.0), ("stream", 1 << 20, 181, 1.0), ("random", 2 << 20, None, 1.0),
    ("random", 1 << 20, 300, 1.0), ("kv-gather", 3 << 20, 256, 1.0), ("strided", 1 << 20, 128, 0.6),
    ("rows", 1536 << 10, None, 0.8),
]
SHORT_CASE = ("stream", 96 << 10, 45, 1.0)  # 3072 bursts: fewer than the stream needs to open every row once


def test_fast_path_is_within_2_percent_of_the_full_model(tmp_path, monkeypatch):
    """The memoized table (the same model at grid concurrencies, read fractions and sizes) against the full
    simulation of transfers that are none of its samples: within 2 % from 1 MiB up, 5 % for a short one."""
    from simulator.hardware import dram

    monkeypatch.setattr(dram, "_cache_dir", lambda: tmp_path)
    monkeypatch.setattr(dram, "_tables", {})
    sys = dram_system("hbm2", 1, read_queue=16, write_queue=16)

    def error(case):
        kind, nbytes, q, fraction = case
        fast = dram.achieved(sys, pattern(kind), nbytes, q, fraction)
        full = simulate(sys, pattern(kind), nbytes, q, fraction)
        assert fast.latency_s == pytest.approx(sys.cycles_to_s(full.read_latency_cycles), rel=0.1)
        return fast.bandwidth / full.bandwidth - 1

    errors = {case: error(case) for case in FAST_CASES}
    assert max(map(abs, errors.values())) < 0.02, errors
    assert abs(error(SHORT_CASE)) < 0.05
    # kept on disk: a new process (no tables in memory) reads the same answers back
    monkeypatch.setattr(dram, "_tables", {})
    assert error(FAST_CASES[3]) == errors[FAST_CASES[3]]
    assert len(list(tmp_path.glob("*.json"))) == 5  # one table per pattern and read fraction used


# ---- the presets ------------------------------------------------------------------------------------------

def test_every_preset_loads_and_keeps_its_cycles_at_its_own_rate():
    from simulator.config.memory import at_rate, load_memory

    for name in memory_names():
        spec = load_memory(name)
        assert at_rate(spec, spec.data_rate) == (spec.timing, spec.clock_hz)
        faster, clock = at_rate(spec, 2 * spec.data_rate)  # twice the rate: the nanoseconds kept
        assert clock == 2 * spec.clock_hz and faster["nBL"] == spec.timing["nBL"]
        assert faster["nRCD"] == 2 * spec.timing["nRCD"] and faster["nRFC"] == 2 * spec.timing["nRFC"]


@pytest.mark.parametrize("edit, words", [
    (("  nRC: 72", "  nRC: 50"), "timing.nRC = 50: must be ≥ nRAS + nRP = 71"),
    (("  nBL: 2", "  nBL: 4"), "timing.nBL = 4: must be burst_length / (data_rate / clock) = 8 / 4 cycles"),
    (("  banks: 4 ", "  banks: 0 "), "organization.banks = 0: must be a whole number from 1 to 16777216"),
    (("  nFAW: 24", "  nFAWW: 24"), "timing.nFAWW = 24: unknown timing; allowed: nBL"),
    (("refresh: per_bank", "refresh: sometimes"), "controller.refresh = 'sometimes': must be one of per_bank"),
    (("data_rate: 6400 MT/s", "data_rate: 6400 MHz"), "data_rate = '6400 MHz': a per-pin data rate such as"),
    (("[column:2, channel,", "[column:6, channel,"), "mapping = 'column:6': column has 32 values: its parts"),
    (("bank_group, bank, column, row]", "bank_group, column, row]"), "needs one entry without bits; missing bank"),
])
def test_bad_preset_fields_are_one_line(tmp_path, edit, words):
    from simulator.config.memory import load_memory
    from simulator.errors import ConfigError

    text = Path(load_memory("hbm3").source).read_text()
    assert edit[0] in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(edit[0], edit[1], 1))
    with pytest.raises(ConfigError) as error:
        load_memory(str(path))
    assert str(error.value).startswith(f"{path}: ") and words in str(error.value) and "\n" not in str(error.value)


def test_what_the_kernels_32_bit_numbering_cannot_hold_is_one_line():
    from dataclasses import replace

    from simulator.errors import ConfigError

    # 2^16 stacks × 32 channels × 8,192 queue entries = 2^34 slots
    huge = replace(HBM3, devices=1 << 16, read_queue=4096, write_queue=4096)
    with pytest.raises(ConfigError) as error:
        simulate(huge, pattern("stream"), 1 << 10)
    assert "controller.read_queue + write_queue" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="concurrency = 2147483648: at most 2,147,483,647 requests outstanding"):
        simulate(HBM3, pattern("stream"), (1 << 31) * 64, concurrency=1 << 31)
