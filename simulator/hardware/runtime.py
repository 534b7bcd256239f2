"""What the software runtime adds to each op's device time (config/runtime.py, docs/model.md § Runtime profile).

An op's time on the chip is its device time plus a fixed part: the chip's own `op_overhead` (kernel launch
latency, ramp and tail on the device) and the host's cost of issuing the kernel. Issued asynchronously, the
host runs ahead, so its cost shows only where it exceeds the kernel (a stream of short kernels is host-bound:
each takes max(device, host)); a harness that synchronizes after every call pays both in turn, except the host's
part after the launch (back into the caller and into the synchronize), which runs beside the kernel. Ops of a kind
the profile fuses are part of a neighbouring kernel: neither cost applies to them."""

from dataclasses import dataclass

from simulator.config.runtime import RuntimeConfig


def op_kind(op) -> str:
    """The kind a profile names an op by: `gemm`, `collective`, or a vector op's kind (softmax, rmsnorm, …)."""
    if op.type == "gemm":
        return "gemm"
    if op.type == "collective":
        return "collective"
    return op.kind


@dataclass(frozen=True)
class Runtime:
    """A profile resolved at a clock: cycles instead of seconds, a lookup per kind."""

    config: RuntimeConfig
    device_cycles: int  # the chip's op_overhead
    host_cycles: dict  # kind → host cycles per kernel of that kind (host_per_kind)
    host_default: int
    fused: frozenset
    after_cycles: dict  # kind → host cycles after the launch (host_after_launch_per_kind)
    after_default: int

    @classmethod
    def at(cls, config: RuntimeConfig, op_overhead_cycles: int, clock_hz: float) -> "Runtime":
        base = config.host_per_kernel.cycles(clock_hz)
        host = {kind: t.cycles(clock_hz) for kind, t in config.host_per_kind.items()}
        after = {kind: t.cycles(clock_hz) for kind, t in config.host_after_launch_per_kind.items()}
        return cls(config, op_overhead_cycles, host, base, frozenset(config.fuse), after,
                   config.host_after_launch.cycles(clock_hz))

    @property
    def name(self) -> str:
        return self.config.name

    def input_reads(self, op) -> int:
        """How many times the op's kernel reads its input: more than once for a row-wise kind whose rows are
        longer than the profile's `row_passes` threshold (a multi-pass library kernel), else once."""
        rule = self.config.row_passes.get(op_kind(op))
        return rule.reads if rule is not None and getattr(op, "row", 0) > rule.over else 1

    def overhead(self, op, device_cycles: int) -> int:
        """Cycles the op takes beyond its `device_cycles`: launch on the device, and the host's issue time
        where the device waits for it."""
        kind = op_kind(op)
        if kind in self.fused:
            return 0
        host = self.host_cycles.get(kind, self.host_default)
        if self.config.synchronize:
            # the host's part after the launch runs beside the kernel (launch latency included), the rest before it
            after = min(host, self.after_cycles.get(kind, self.after_default))
            return host - after + max(after, self.device_cycles + device_cycles) - device_cycles
        return self.device_cycles + max(0, host - self.device_cycles - device_cycles)
