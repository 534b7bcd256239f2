"""Where a `path=value` override goes: the hardware config or the workload (used by `run --set` and sweeps)."""

from simulator.config.schema import ChipConfig, SystemConfig
from simulator.errors import ConfigError
from simulator.workloads.loader import LLMWorkloadSpec, WorkloadSpec

HARDWARE_KEYS = set(ChipConfig.model_fields) | set(SystemConfig.model_fields)  # either file layout
WORKLOAD_KEYS = set(WorkloadSpec.model_fields) | set(LLMWorkloadSpec.model_fields)


def split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """Route `--set` paths: an explicit `hardware.` or `workload.` prefix decides; otherwise a path whose
    first part is a hardware field (core, memory, clock, …) goes to the hardware, one whose first part is
    a workload field (scenario, model, ops) to the workload, and anything else is a one-line error."""
    hardware, workload = [], []
    for item in items:
        head = item.split("=", 1)[0].split(".", 1)[0].strip()
        key = item.split("=", 1)[0]
        if head in ("hardware", "workload") and "." in key:
            (hardware if head == "hardware" else workload).append(item.split(".", 1)[1])
        elif head in HARDWARE_KEYS or head in WORKLOAD_KEYS:
            (hardware if head in HARDWARE_KEYS else workload).append(item)
        else:
            raise ConfigError(f"--set {item}", head, head, "not a hardware field (" + ", ".join(sorted(HARDWARE_KEYS))
                              + ") nor a workload field (" + ", ".join(sorted(WORKLOAD_KEYS - HARDWARE_KEYS))
                              + ")")
    return hardware, workload
