"""The `banked` memory model: an op's HBM share capped by memory-level parallelism (hardware/bandwidth.py),
Little's law over the cycle-level DRAM model's fast path. A one-stack HBM2 chip keeps the model's tables
small (16 channels, 2048 bursts with every queue full)."""

import pytest

from simulator.config.loader import load_chip
from simulator.errors import ConfigError
from simulator.hardware import dram
from simulator.hardware.bandwidth import hbm_terms, parallelism_limit
from simulator.hardware.chip import Chip
from simulator.hardware.timing import gemm_timing
from simulator.ir.ops import GemmOp
from simulator.ir.program import Tile

SMALL = ["memory.hbm.dram={type: hbm2, devices: 1}", "memory.hbm.bandwidth=307.2 GB/s", "memory.hbm.efficiency=1.0"]
NBYTES = 8 << 20  # a GEMV's weights: 8 MiB


def small_chip(*extra: str) -> Chip:
    return Chip(load_chip("a100", [*SMALL, "memory.hbm.model=banked", *extra]))


def fixed_cycles(chip: Chip, system) -> float:
    """The part of the unloaded load-to-use latency outside the DRAM: the full model's mean read latency of a
    stream one request at a time (as long as the fast path's longest sample, 65,536 bursts here)."""
    idle = dram.simulate(system, dram.pattern("stream"), 65536 * 32, 1).read_latency_cycles / system.clock_hz
    return chip.dma_latency + chip.l2.latency + chip.hbm.latency - idle * chip.clock_hz


def test_few_cores_get_less_bandwidth_than_all_and_follow_littles_law():
    chip = small_chip("core.dma.outstanding=16 requests")
    system = dram.chip_dram(chip.config)
    burst, hz = system.burst_bytes, chip.clock_hz
    few, _ = parallelism_limit(chip, 4, NBYTES, 1.0, "stream")
    every, _ = parallelism_limit(chip, chip.cores, NBYTES, 1.0, "stream")
    assert few < 0.5 * every
    # Little's law: Q = 4 × 16 bursts in flight; c of them in the DRAM, the rest in the fixed latency outside.
    in_flight = 4 * 16
    fixed = fixed_cycles(chip, system)
    c = in_flight - few * fixed / burst
    assert 1 <= c < in_flight
    loaded = fixed + dram.achieved(system, dram.pattern("stream"), NBYTES, c).latency_s * hz
    assert few == pytest.approx(in_flight * burst / loaded, rel=0.001)
    assert few < 0.5 * system.peak_bytes_per_s / hz


def test_full_concurrency_reaches_the_models_streaming_bandwidth():
    chip = small_chip("core.dma.outstanding=1 MiB")  # far more than every queue holds
    system = dram.chip_dram(chip.config)
    bandwidth, latency = parallelism_limit(chip, chip.cores, NBYTES, 1.0, "stream")
    stream = dram.achieved(system, dram.pattern("stream"), NBYTES, dram.default_concurrency(system))
    assert bandwidth == pytest.approx(stream.bandwidth / chip.clock_hz, rel=1e-9)
    assert stream.bandwidth / system.peak_bytes_per_s > 0.95
    assert latency > chip.hbm.latency  # queues full: the loaded latency is above the unloaded one


def test_the_share_is_the_smaller_of_the_reserved_one_and_the_parallelism_limit():
    chip = small_chip("core.dma.outstanding=16 requests")
    limit, _ = parallelism_limit(chip, 4, NBYTES, 1.0, "stream")
    achievable = chip.hbm.achievable_bytes_per_cycle
    for fraction in (0.01, 0.5, 1.0):
        terms = hbm_terms(chip, fraction, 4, NBYTES, 1.0)
        assert terms.bytes_per_cycle * fraction == pytest.approx(min(achievable * fraction, limit))


def test_a_decode_gemv_on_few_cores_is_slower_under_banked():
    op = GemmOp(name="gemv", m=1, n=4096, k=4096, dtype="bf16")
    tile = Tile(1, 512, 4096)
    rate = Chip(load_chip("a100", [*SMALL, "core.dma.outstanding=16 requests"]))
    banked = small_chip("core.dma.outstanding=16 requests")
    slow = gemm_timing(banked, op, tile, 4).cycles
    assert slow > 1.5 * gemm_timing(rate, op, tile, 4).cycles
    assert gemm_timing(banked, op, tile, 8).cycles < slow  # twice the cores, twice the requests in flight


def test_rate_ignores_outstanding():
    op = GemmOp(name="gemv", m=1, n=4096, k=4096, dtype="bf16")
    tile = Tile(1, 512, 4096)
    plain, given = Chip(load_chip("h100")), Chip(load_chip("h100", ["core.dma.outstanding=512 requests"]))
    assert gemm_timing(plain, op, tile, 8) == gemm_timing(given, op, tile, 8)
    assert hbm_terms(plain, 1.0, 8, NBYTES).bytes_per_cycle == plain.hbm.achievable_bytes_per_cycle


@pytest.mark.parametrize(("overrides", "words"), [
    (["core.dma.outstanding=-3"], "core.dma.outstanding = -3: must be a count of requests > 0"),
    (["core.dma.outstanding=lots"], "core.dma.outstanding = 'lots': must be a count of requests > 0"),
    (["memory.hbm.model=banked"], "memory.hbm.model = 'banked': banked needs core.dma.outstanding"),
    (["memory.hbm.model=banked", "core.dma.outstanding=512", "memory.hbm.dram=null"],
     "memory.hbm.model = 'banked': banked needs the level's DRAM devices"),
    (["memory.hbm.model=bnk"], "memory.hbm.model = 'bnk': must be one of 'rate' or 'banked'"),
    (["memory.l2.model=banked"], "memory.l2.model = 'banked': banked applies to the farthest (DRAM) level only"),
    (["chip.memory.0.model=banked"], "chip.memory.0.model = 'banked': banked applies to the farthest"),
    (["chip.memory.1.model=banked", "chip.memory.1.dram=ddr5"], "chip.memory.1.model = 'banked': banked needs "
     "core.dma.outstanding"),
])
def test_bad_model_or_outstanding_is_one_line(overrides, words):
    hardware = "xeon_8480" if overrides[0].startswith("chip.") else "h100"  # a System-layout file
    with pytest.raises(ConfigError) as error:
        load_chip(hardware, overrides)
    message = str(error.value)
    assert words in message and "\n" not in message


def test_outstanding_reads_requests_and_bytes():
    assert load_chip("h100", ["core.dma.outstanding=512 requests"]).core.dma.outstanding == (512, "requests")
    assert load_chip("h100", ["core.dma.outstanding=512"]).core.dma.outstanding == (512, "requests")
    assert load_chip("h100", ["core.dma.outstanding=16 KiB"]).core.dma.outstanding == (16384, "bytes")


def test_a_paged_kv_cache_is_read_as_gathered_blocks_and_never_faster_than_a_stream():
    """`scenario.kv_block`: the attention products' B (the K and V caches) lies in blocks of kv_block tokens of
    every KV head at scattered places, so under `banked` their HBM share is the kv-gather pattern's at that
    block size: never above the stream's (the same bytes, more row misses), and the bytes are the same."""
    chip = small_chip("core.dma.outstanding=64 requests")
    stream, _ = parallelism_limit(chip, chip.cores, NBYTES, 1.0, "stream")
    small, _ = parallelism_limit(chip, chip.cores, NBYTES, 1.0, "kv-gather:2048")
    assert small <= stream * (1 + 1e-9)
    op = GemmOp("scores", 4, 4096, 128, batch=8, b_block=2048)
    flat = GemmOp("scores", 4, 4096, 128, batch=8)
    tile = Tile(4, 256, 128)
    gathered, streamed = gemm_timing(chip, op, tile, chip.cores), gemm_timing(chip, flat, tile, chip.cores)
    assert gathered.hbm_read == streamed.hbm_read and gathered.cycles >= streamed.cycles


def test_the_lowering_gives_the_kv_products_their_block_bytes():
    from simulator.workloads.loader import bundled_dir, load_workload
    from simulator.workloads.transformer import lower

    wl = load_workload(bundled_dir() / "llama3_8b_decode.yaml", ["scenario.kv_block=16"])
    ops = {op.name: op for p in lower(wl.model, wl.scenario, wl.parallel) for seg in p.segments
           for op in seg.graph.ops}
    # 16 tokens × 8 KV heads × 128 × 2 B = 32 KiB of K (and of V) per block; weights stay streamed
    assert ops["scores"].b_block == ops["values"].b_block == 16 * 8 * 128 * 2
    assert ops["qkv_proj"].b_block == 0
