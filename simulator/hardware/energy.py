"""A chip's energy per event in joules: its technology node's defaults with the hardware file's overrides on top."""

from dataclasses import dataclass
from functools import cache

from simulator.config.dtypes import DTYPES
from simulator.config.schema import ChipConfig, NodeEnergyConfig, energy_nodes, energy_nodes_path
from simulator.config.validation import validate_node
from simulator.errors import ConfigError


@dataclass(frozen=True)
class EnergyRates:
    node: str
    mac_j: dict[str, float]  # per MAC, by compute dtype
    vector_op_j: dict[str, float]  # per vector-unit op, by dtype
    sram_j: float  # per byte read or written in the core's scratchpad
    l2_j: float  # per byte read from the shared on-chip level
    hbm_j: float  # per byte read or written in HBM
    link_j: float  # per byte per hop on a chip-to-chip link
    static_w: float  # per chip, for the whole run
    chip_sram_j: float = 0.0  # per byte read or written in an SRAM-only chip's shared SRAM (its farthest level)


@cache
def node_defaults(node: str) -> NodeEnergyConfig:
    """One node of configs/energy/nodes.yaml, validated once; every dtype must have both energies."""
    path = energy_nodes_path()
    values = validate_node(NodeEnergyConfig, energy_nodes(), node, path, "mac, vector_op, sram, …")
    for table in ("mac", "vector_op"):
        missing = [d for d in DTYPES if d not in getattr(values, table)]
        if missing:
            raise ConfigError(str(path), f"{node}.{table}", ", ".join(missing),
                              "every dtype needs an energy here (" + ", ".join(DTYPES) + ")")
    return values


def energy_rates(config: ChipConfig) -> EnergyRates:
    """The node's energies, each replaced by the config's override where it gives one."""
    own, base = config.energy, node_defaults(config.energy.node)

    def pick(name: str) -> float:
        value = getattr(own, name)
        return getattr(base, name) if value is None else value

    return EnergyRates(
        node=own.node,
        mac_j=base.mac | own.mac,
        vector_op_j=base.vector_op | own.vector_op,
        sram_j=pick("sram"), l2_j=pick("l2"), hbm_j=pick("hbm"), link_j=pick("link"),
        static_w=pick("static_power"), chip_sram_j=chip_sram_energy(config),
    )


def chip_sram_energy(config: ChipConfig) -> float:
    """Joules per byte of an SRAM-only chip's shared SRAM: `energy.chip_sram`, else the node's `chip_sram`,
    else the node's `l2` (a large on-chip SRAM read: Horowitz's 1 MB point at 45 nm, configs/energy/nodes.yaml)."""
    own, base = config.energy, node_defaults(config.energy.node)
    for value in (own.chip_sram, base.chip_sram, base.l2):
        if value is not None:
            return value
    return 0.0  # unreachable: every node has an l2 energy


def energy_assumptions(config: ChipConfig) -> list[str]:
    """What the `energy:` section leaves to its defaults, as `field = value` lines for a run's assumptions:
    the node (45nm unless given) and the static power (every node's is 0 W), or both in one line when the
    file has no `energy:` section at all."""
    own = config.energy
    given = own.model_fields_set
    watts = node_defaults(own.node).static_power
    static = f"energy.static_power = {watts:g} W"
    leakage = " (no leakage counted)" if watts == 0 else ""
    if not given:
        return [f"energy.node = {own.node} and {static}{leakage}: the hardware file has no energy: section"]
    out = [] if "node" in given else [f"energy.node = {own.node}"]
    if "static_power" not in given:
        out.append(f"{static}, the {own.node} node's{leakage}")
    if config.memory.dram is None and own.chip_sram is None and node_defaults(own.node).chip_sram is None:
        out.append(f"energy.chip_sram = {chip_sram_energy(config) * 1e12:g} pJ/B, the {own.node} node's l2 "
                   "(a large on-chip SRAM)")
    return out
