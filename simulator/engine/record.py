"""What the engine records for every op it runs."""

from dataclasses import dataclass


@dataclass(slots=True)  # read-only by convention: frozen dataclasses cost 4× as much to build, per op per pass
class OpRecord:
    index: int  # position in the workload
    name: str
    type: str  # gemm | vector | collective
    kind: str  # gemm, the vector kind (softmax, add, …) or the collective kind (all_reduce, …)
    group: str  # what the op belongs to (attention, mlp, norm, …); empty for hand-written workloads
    dtype: str  # the dtype the MXU or vector unit computes in
    shape: str
    tile: str
    cores: int
    bandwidth_fraction: float  # share of the chip's memory bandwidth the op held
    work_units: int  # tile steps (GEMM) or chunks (vector)
    waves: int
    start: int
    end: int
    cycles: int  # end − start = compute_cycles + stall_cycles + overhead_cycles
    compute_cycles: int  # busy MXU/vector cycles of the critical core
    stall_cycles: int  # critical-core cycles waiting on memory
    overhead_cycles: int  # the chip's fixed per-op time (launch, prologue, tail; dispatch on a TPU)
    macs: int
    flops: int
    vector_ops: float
    hbm_read: int
    hbm_write: int
    l2_read: int
    sram_read: int
    sram_write: int
    a_reads: int
    b_reads: int
    acc_reads: int
    acc_writes: int
    min_bytes: int  # compulsory traffic: every operand read once, every result written once
    comm_bytes: int = 0  # collectives: each chip's buffer (see ir/ops.py CollectiveOp)
    link_bytes: float = 0.0  # collectives: bytes put on links, summed over every link of every route
    algorithm: str = ""  # collectives: ring, bidir_ring, torus, direct, switch_reduce
    unit: str = ""  # the unit kind that ran it: systolic | vector | links
    note: str = ""  # what the mapping traded (e.g. compute cycles for overlapping the first load)
    axis: str = ""  # collectives: the parallel axis whose chips take part (tp, ep, pp, dp; "" for explicit chips)
    # An SRAM-only chip's farthest level (its shared SRAM, Groq's 230 MB): the bytes the timing moves on it,
    # which a chip with DRAM records as hbm_read / hbm_write (those stay 0 here: no DRAM, no DRAM bytes).
    chip_sram_read: int = 0
    chip_sram_write: int = 0
    # Of stall_cycles, those the core's banked SRAM adds (bank conflicts; 0 on an unbanked SRAM, docs/memory.md).
    bank_stall_cycles: int = 0
    # Bytes a GEMV on processing-in-memory reads inside the DRAM banks (its weights), never on the external bus:
    # hbm_read / hbm_write hold only what crosses the bus (its results and input vectors). 0 for other units.
    pim_read: int = 0
