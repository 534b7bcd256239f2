"""A chip's die area: published (`area.die`), or modelled from its technology node's mm² per MAC and per MB
of SRAM (configs/area/nodes.yaml) plus `area.other`, and whether it fits one lithography exposure.

Modelled: the systolic arrays (cores × arrays × rows × cols PEs, each with `macs_per_pe` MAC units of the
dtype it is sized for) and every on-chip SRAM (each core's scratchpad and accumulators, the shared cache).
Everything else (vector units, DMA, control, I/O and PHYs, the network on chip) is `area.other`, 0 unless
given, so a modelled die is a lower bound. A figure the node table lacks leaves the die unmodelled and says
which one (docs/cost.md)."""

from dataclasses import dataclass
from functools import cache

from simulator.config.cost import RETICLE_MM2, AreaConfig, AreaNodeConfig, area_nodes, area_nodes_path
from simulator.config.dtypes import DTYPE_BITS
from simulator.config.validation import validate_node
from simulator.errors import ConfigError


@dataclass(frozen=True)
class DieArea:
    die_mm2: float | None  # None: a figure the model needs is missing (see `missing`)
    mxu_mm2: float | None  # modelled parts (None when published or missing)
    sram_mm2: float | None
    other_mm2: float
    how: str  # published | modelled at <node>
    missing: str | None = None  # the figure configs/area/nodes.yaml lacks

    @property
    def exceeds_reticle(self) -> bool | None:
        return None if self.die_mm2 is None else self.die_mm2 > RETICLE_MM2


@cache
def area_node(node: str) -> AreaNodeConfig:
    """One node of configs/area/nodes.yaml, validated once."""
    return validate_node(AreaNodeConfig, area_nodes(), node, area_nodes_path(), "description, mac, sram_per_mb")


def sized_for(macs_per_pe: dict) -> str:
    """The dtype a PE is sized for by default: the widest it runs (the first listed among equals)."""
    return max(macs_per_pe, key=lambda d: DTYPE_BITS[d])


def sram_bytes(config) -> int:
    """On-chip SRAM of a chip config: each core's scratchpad and accumulators, and every level that is not DRAM."""
    core = config.core
    shared = sum(level.size for level in config.memory if level.kind != "dram")
    return config.cores * (core.sram.size + core.accumulators) + shared


def mac_units(config, dtype: str) -> float:
    """MAC units of `dtype` on the chip: PEs × MACs per PE per cycle for that dtype."""
    mxu = config.core.mxu
    return config.cores * mxu.count * mxu.rows * mxu.cols * mxu.macs_per_pe[dtype]


def die_area(config) -> DieArea | None:
    """The chip config's die area; None when it has no `area:` section."""
    area: AreaConfig | None = config.area
    if area is None:
        return None
    if area.die is not None:
        return DieArea(area.die, None, None, area.other, "published")
    node, mxu = area_node(area.node), config.core.mxu
    dtype = area.mac_dtype or sized_for(mxu.macs_per_pe)
    how = f"modelled at {area.node}"
    if dtype not in mxu.macs_per_pe:
        raise ConfigError(config.name, "area.mac_dtype", dtype, "a dtype of core.mxu.macs_per_pe ("
                          + ", ".join(mxu.macs_per_pe) + "): the PEs are sized for one they run")
    per_mac = node.mac.get(dtype)
    sram = None if node.sram_per_mb is None else sram_bytes(config) / 1e6 * node.sram_per_mb
    macs = None if per_mac is None else mac_units(config, dtype) * per_mac
    missing = [f"{area.node}.mac.{dtype}"] if per_mac is None else []
    missing += [f"{area.node}.sram_per_mb"] if sram is None else []
    if missing:
        return DieArea(None, macs, sram, area.other, how, " and ".join(missing))
    return DieArea(macs + sram + area.other, macs, sram, area.other, how)
