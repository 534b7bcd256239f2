"""The op graph every workload lowers to and the engine runs: GEMMs and vector ops with dependencies."""

from dataclasses import dataclass, field

from simulator.config.dtypes import nbytes

# kind → (input tensors read, output tensors written, ops per element); ops are estimates of the
# vector instructions per element (e.g. softmax: max, subtract, exp, sum, scale).
VECTOR_KINDS = {
    "add": (2, 1, 1.0),
    "mul": (2, 1, 1.0),
    "relu": (1, 1, 1.0),
    "silu": (1, 1, 4.0),
    "gelu": (1, 1, 8.0),
    "exp": (1, 1, 4.0),
    "softmax": (1, 1, 5.0),
    "rmsnorm": (1, 1, 4.0),
    "layernorm": (1, 1, 7.0),
    "rope": (1, 1, 6.0),
    "reduce": (1, 0, 1.0),
    "copy": (1, 1, 0.0),
}


@dataclass(frozen=True)
class GemmOp:
    """`batch` independent products C[M×N] = A[M×K]·B[K×N]; they share no operands."""

    name: str
    m: int
    n: int
    k: int
    dtype: str = "bf16"
    out_dtype: str = "bf16"
    batch: int = 1
    deps: tuple[str, ...] = ()
    type: str = field(default="gemm", init=False)

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def min_read_bytes(self) -> int:
        """Each operand read once: the compulsory traffic."""
        return self.batch * (nbytes(self.m * self.k, self.dtype) + nbytes(self.k * self.n, self.dtype))

    @property
    def min_write_bytes(self) -> int:
        return self.batch * nbytes(self.m * self.n, self.out_dtype)

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
    type: str = field(default="vector", init=False)

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
        return self.inputs * nbytes(self.elements, self.dtype)

    @property
    def min_write_bytes(self) -> int:
        return self.outputs * nbytes(self.elements, self.dtype)

    @property
    def shape(self) -> str:
        return str(self.elements)


Op = GemmOp | VectorOp


@dataclass(frozen=True)
class OpGraph:
    """Ops in program order; `deps` name earlier ops that must finish first."""

    name: str
    ops: tuple[Op, ...]

    @property
    def flops(self) -> int:
        return sum(op.flops for op in self.ops)
