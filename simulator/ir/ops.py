"""The op graph every workload lowers to and the engine runs: GEMMs and vector ops with dependencies."""

from dataclasses import dataclass, field

from simulator.config.dtypes import DTYPE_BITS, nbytes

# What part of a training step an op belongs to (`role`); "" for everything else (inference passes,
# hand-written op lists). Results read it to tell model FLOPs (forward, backward) from recomputed ones.
# grad_sync: a gradient reduction over dp/ep that no data-path op waits for, only the block's barrier;
# a pipeline's gradient send leaves without it (engine/program.py `SegmentRun.data_ready`).
ROLES = ("forward", "backward", "recompute", "optimizer", "grad_sync")

# kind → (input tensors read, output tensors written, ops per element); ops are estimates of the
# vector instructions per element (e.g. softmax: max, subtract, exp, sum, scale).
VECTOR_KINDS = {
    "add": (2, 1, 1.0),
    "mul": (2, 1, 1.0),
    "relu": (1, 1, 1.0),
    "silu": (1, 1, 4.0),
    "gelu": (1, 1, 8.0),
    "swiglu": (2, 1, 5.0),  # silu(gate) · up
    "geglu": (2, 1, 9.0),  # gelu(gate) · up (Gemma): gelu's 8 and the product
    "reglu": (2, 1, 2.0),  # relu(gate) · up: relu's 1 and the product
    "exp": (1, 1, 4.0),
    "softmax": (1, 1, 5.0),
    "softcap": (1, 1, 6.0),  # cap · tanh(x / cap): the two scalings and a tanh costed as exp's 4
    "rmsnorm": (1, 1, 4.0),
    "layernorm": (1, 1, 7.0),
    "rope": (1, 1, 6.0),
    "reduce": (1, 0, 1.0),
    "copy": (1, 1, 0.0),
    "topk": (1, 1, 2.0),  # compare-and-select over the router logits, plus normalizing the k weights
    "lookup": (1, 1, 0.0),  # gather rows (an embedding lookup): pure data movement
    "weighted_sum": (2, 1, 2.0),  # MoE combine: Σ weight · expert output
    # Training's dropout: Philox4x32-10 (Salmon et al., SC'11, as PyTorch's and Megatron's CUDA RNG) gives four
    # values per call of 10 rounds, each two 32×32→64-bit multiplies (hi and lo: 4 instructions), two XORs with
    # the key and two key additions: 20 instructions a value, then its conversion, the compare with p, the
    # scale and the mask bit: 24. Its 1-byte mask is the op's `mask_writes` (and the backward's `mask_reads`).
    "dropout": (1, 1, 24.0),
}
DROPOUT_OPS = VECTOR_KINDS["dropout"][2]

# kind → transcendental results per element, issued to special-function units where a chip has them
# (`core.vector.special`): an exp2 per score (softmax, exp), exp2 and reciprocal per sigmoid (silu, swiglu),
# exp2 and reciprocal per tanh (softcap), one for GeLU (ESTIMATE: erf's tail); norms take one rsqrt per row,
# which is nothing per element. They are also among the kind's ops per element, which the lanes issue.
SPECIAL_OPS = {"exp": 1, "softmax": 1, "silu": 2, "swiglu": 2, "softcap": 2, "gelu": 1, "geglu": 1}


@dataclass(frozen=True)
class GemmOp:
    """`batch` independent products C[M×N] = A[M×K]·B[K×N]; they share no operands.

    A is stored as `dtype`, B (the weights or KV cache) as `b_dtype`; the MXU runs at the rate of the
    wider of the two, since a narrower operand is widened before it enters the array (weight-only
    quantization). An operand `*_on_chip` never touches HBM: it is produced and consumed in SRAM, as
    the score tile of fused (flash) attention is.

    Quantized weights carry scales that travel with B: one of `b_scale_bytes` (the scale and any zero point)
    per `b_group` consecutive K elements of each column (`b_group = k`: one per output channel), or one for
    the whole tensor (`b_group = 0` with `b_scale_bytes > 0`). hardware/quant.py costs the dequantization.
    """

    name: str
    m: int
    n: int
    k: int
    dtype: str = "bf16"
    out_dtype: str = "bf16"
    batch: int = 1
    deps: tuple[str, ...] = ()
    b_dtype: str | None = None  # defaults to dtype
    a_on_chip: bool = False
    c_on_chip: bool = False
    group: str = ""  # what the op belongs to, for breakdowns: attention, mlp, norm, …
    role: str = ""  # training: one of ROLES; "" otherwise. Not part of the shape (mapping ignores it)
    b_group: int = 0  # K elements of B per scale; 0: one scale per tensor (if b_scale_bytes), or none
    b_scale_bytes: int = 0  # bytes per scale group of B: the scale and any zero point (0: B carries no scales)
    b_block: int = 0  # B gathered in pieces of this many contiguous bytes (a paged KV cache's blocks); 0: streamed
    dequant: str = "auto"  # weight-only kernels: "auto", "inline" or "pipelined" dequantization (hardware/quant.py)
    stages: int = 0  # input buffers the kernel's loads pipeline over (a fused attention kernel's); 0: core.sram.stages
    type: str = field(default="gemm", init=False)

    def __post_init__(self):
        if self.b_dtype is None:
            object.__setattr__(self, "b_dtype", self.dtype)
        if self.b_group < 0 or self.b_scale_bytes < 0 or self.stages < 0 or self.dequant not in (
                "auto", "inline", "pipelined"):
            raise ValueError(f"gemm {self.name}: b_group {self.b_group}, b_scale_bytes {self.b_scale_bytes}, "
                             f"stages {self.stages}, dequant {self.dequant!r}: groups, bytes and stages are >= 0, "
                             "dequant auto | inline | pipelined")

    @property
    def compute_dtype(self) -> str:
        return self.b_dtype if DTYPE_BITS[self.b_dtype] > DTYPE_BITS[self.dtype] else self.dtype

    @property
    def a_bytes(self) -> float:
        """Bytes per A element moved through memory (0 when A stays on chip)."""
        return 0.0 if self.a_on_chip else DTYPE_BITS[self.dtype] / 8

    @property
    def b_scale_total(self) -> int:
        """Scale (and zero-point) bytes of one of the `batch` B matrices."""
        if not self.b_scale_bytes:
            return 0
        if not self.b_group:
            return self.b_scale_bytes  # per tensor
        return -(-self.k // self.b_group) * self.n * self.b_scale_bytes

    @property
    def b_bytes(self) -> float:
        """Bytes per B element moved through memory, its share of the scales included."""
        return DTYPE_BITS[self.b_dtype] / 8 + self.b_scale_total / (self.k * self.n)

    @property
    def c_bytes(self) -> float:
        return 0.0 if self.c_on_chip else DTYPE_BITS[self.out_dtype] / 8

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def min_read_bytes(self) -> int:
        """Each operand read once: the compulsory traffic."""
        a = 0 if self.a_on_chip else nbytes(self.m * self.k, self.dtype)
        return self.batch * (a + nbytes(self.k * self.n, self.b_dtype) + self.b_scale_total)

    @property
    def min_write_bytes(self) -> int:
        return 0 if self.c_on_chip else self.batch * nbytes(self.m * self.n, self.out_dtype)

    @property
    def shape(self) -> str:
        prefix = f"{self.batch}×" if self.batch > 1 else ""
        return f"{prefix}{self.m}×{self.n}×{self.k}"


@dataclass(frozen=True)
class VectorOp:
    """Elementwise or row-wise work over `elements` values on the vector units."""

    name: str
    kind: str
    elements: int
    dtype: str = "bf16"
    inputs: int = 1
    outputs: int = 1
    ops_per_element: float = 1.0
    deps: tuple[str, ...] = ()
    group: str = ""
    role: str = ""  # training: one of ROLES; "" otherwise
    row: int = 0  # a row-wise kind's row length (softmax: the keys), which some kernels' passes depend on; 0: none
    # one-byte-per-element masks the kernel reads or writes beside its tensors (dropout's keep mask, as PyTorch's
    # native_dropout stores it: a bool per element)
    mask_reads: int = 0
    mask_writes: int = 0
    # transcendentals per element for the special-function units; None: the kind's (SPECIAL_OPS). A softmax's
    # backward, P ∘ (dP − D), takes none.
    special_per_element: float | None = None
    type: str = field(default="vector", init=False)

    @property
    def special(self) -> float:
        if self.special_per_element is not None:
            return self.special_per_element
        return SPECIAL_OPS.get(self.kind, 0)

    @property
    def compute_dtype(self) -> str:
        return self.dtype

    @property
    def macs(self) -> int:
        return 0

    @property
    def flops(self) -> int:
        return 0

    @property
    def vector_ops(self) -> float:
        return self.elements * self.ops_per_element

    @property
    def min_read_bytes(self) -> int:
        return self.inputs * nbytes(self.elements, self.dtype) + self.mask_reads * self.elements

    @property
    def min_write_bytes(self) -> int:
        return self.outputs * nbytes(self.elements, self.dtype) + self.mask_writes * self.elements

    @property
    def shape(self) -> str:
        return str(self.elements)


COLLECTIVE_KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send")
PARALLEL_AXES = ("tp", "cp", "ep", "pp", "dp", "embedding",  # embedding: a tied table's two stages
                 "tp_x", "tp_yz", "tp_xy", "tp_z")  # sub-groups of a tp group's grid (workloads/parallel.py TP_SUBAXES)


@dataclass(frozen=True)
class CollectiveOp:
    """Communication among the chips of one parallel axis, run by every chip of the axis at once.

    `bytes` is each chip's buffer: the input (and output) of an all-reduce, the input of a
    reduce-scatter, the gathered output of an all-gather, the send buffer of an all-to-all (its own
    share included), the message of a send. Collectives move data over links only: they take no
    cores and no HBM bandwidth.
    """

    name: str
    kind: str  # one of COLLECTIVE_KINDS
    bytes: int
    axis: str  # one of PARALLEL_AXES: which chips take part ("" with explicit `chips`)
    deps: tuple[str, ...] = ()
    group: str = "communication"
    chips: tuple[int, ...] = ()  # explicit chips (hand-written op lists); else every group of `axis`
    role: str = ""  # training: one of ROLES; "" otherwise
    type: str = field(default="collective", init=False)

    def __post_init__(self):
        if self.kind not in COLLECTIVE_KINDS or self.axis not in PARALLEL_AXES and not (self.chips and not self.axis):
            raise ValueError(f"collective {self.name}: kind {self.kind!r} / axis {self.axis!r} not known")

    compute_dtype = "none"
    macs = 0
    flops = 0
    vector_ops = 0.0
    min_read_bytes = 0
    min_write_bytes = 0

    @property
    def shape(self) -> str:
        return str(self.bytes)


Op = GemmOp | VectorOp | CollectiveOp


@dataclass(frozen=True)
class OpGraph:
    """Ops in program order; `deps` name earlier ops that must finish first."""

    name: str
    ops: tuple[Op, ...]

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)
