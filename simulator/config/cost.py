"""A chip's `cost:` and `area:` sections: what an hour of the chip costs, and how big its die is.

`cost:` takes one of two forms (docs/cost.md): a cloud price per chip-hour (`chip_hour`, power and hosting
included), or an owned chip (`capex`: its price and the years it is written off over) whose electricity is
power × host overhead × PUE × $/kWh. Defaults are ../shared/reference/costs.md §3.3's. `area:` names a
technology node of configs/area/nodes.yaml whose mm² per MAC and per MB of SRAM give the die area of the
chip's MXUs and SRAM, or a published die size. Imported by schema.py; imports nothing of it.
"""

import math
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator
from pydantic_core import PydanticCustomError

from simulator.config.dtypes import DTYPES
from simulator.config.fields import Power, unit_field
from simulator.config.presets import preset_dir
from simulator.config.yamlio import read_mapping

HOURS_PER_YEAR = 8760  # 365 × 24 (costs.md §3.1)
# The largest die one lithography exposure prints: a 26 mm × 33 mm scanner field (chetanpatil.in newsletter
# 290, "the semiconductor reticle limit": ~26 × 33 mm, 850–860 mm²; hardwareregistry.com: ~858 mm² for DUV and
# EUV). A bigger die needs stitching (wafer-scale) or several dies on one package (B200, MI300X).
RETICLE_MM2 = 26 * 33  # = 858 mm²
MAX_USD = 1e9  # per chip or per chip-hour: beyond any accelerator, a typo
MAX_MM2 = 1e5  # 100,000 mm²: beyond a 300 mm wafer's 70,686 mm²

USD_HELP = "a price in US dollars such as 2.99 or \"$25,000\", more than 0 and at most 1e9"
AREA_HELP = "an area such as 814 mm² (or 814 mm2, or a number of mm²), at most 100,000 mm²"


def parse_usd(value) -> float:
    """US dollars from a number, `$2.99` or `25,000 USD`; raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip().removeprefix("$").removesuffix("USD").strip().replace(",", "")
        value = float(text)
    if not isinstance(value, int | float) or not 0 < value <= MAX_USD or not math.isfinite(value):
        raise ValueError
    return float(value)


def parse_mm2(value) -> float:
    """Square millimetres from a number, `814 mm²` or `814 mm2`."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, str):
        text = value.strip()
        for unit in ("mm²", "mm2", "mm^2"):
            text = text.removesuffix(unit)
        value = float(text.strip())
    if not isinstance(value, int | float) or not 0 <= value <= MAX_MM2 or not math.isfinite(value):
        raise ValueError
    return float(value)


USD = Annotated[float, unit_field(parse_usd, USD_HELP)]
Area = Annotated[float, unit_field(parse_mm2, AREA_HELP), PlainSerializer(lambda v: f"{v:g} mm²")]


def _within(low: float, high: float, what: str):
    def check(value: float) -> float:
        if not low <= value <= high:  # also refuses NaN
            raise PydanticCustomError("range", "must be {what} from {low} to {high}",
                                      {"what": what, "low": f"{low:g}", "high": f"{high:g}"})
        return float(value)

    return check


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapexConfig(_Strict):
    """An owned chip: what it cost, its share of the server, network and installation included, written
    off in equal parts over `years`."""

    price: USD
    years: Annotated[float, Field(strict=False)] = 4.0  # costs.md §3.3: "commonly 4–5 years for accelerators" (R)

    _check_years = field_validator("years")(_within(0.25, 30, "a number of years"))


CAPEX_ONLY = ("power", "pue", "electricity", "host_overhead")


class CostConfig(_Strict):
    """What one chip costs per hour it is held. Either `chip_hour` (a cloud price: power, hosting and
    staff included) or `capex` plus electricity (capex per hour + power × host_overhead × PUE × $/kWh).
    `utilization` is the share of paid hours that do useful work: cost per useful hour = cost / utilization."""

    chip_hour: USD | None = None  # USD per chip-hour, on demand
    capex: CapexConfig | None = None
    # Watts per chip that the electricity bill counts (e.g. the TDP). None: the run's average power from the
    # energy model (simulator/results/energy.py) over the chips it uses.
    power: Power | None = None
    # costs.md §3.3: 1.57 is the industry average of large data centres (Uptime Institute 2021, via CNBC);
    # Google's fleet reported 1.10 (Q2 2021). Total facility power ÷ IT power.
    pue: Annotated[float, Field(strict=False)] = 1.57
    # USD per kWh: US industrial average 2023, 8.06 ¢/kWh (Statista citing EIA; costs.md §3.3).
    electricity: Annotated[float, Field(strict=False)] = 0.0806
    # The CPUs, memory, NICs and switches each chip needs, as a factor on its power (1.0 = the chip only).
    host_overhead: Annotated[float, Field(strict=False)] = 1.0
    utilization: Annotated[float, Field(strict=False)] = 1.0

    _check_pue = field_validator("pue")(_within(1, 4, "a number (facility ÷ IT power)"))
    _check_electricity = field_validator("electricity")(_within(0, 10, "a price in USD per kWh"))
    _check_overhead = field_validator("host_overhead")(_within(1, 10, "a factor on the chip's power"))
    _check_utilization = field_validator("utilization")(_within(0.001, 1, "a fraction of the hours paid for"))

    @model_validator(mode="after")
    def _one_form(self):
        if (self.chip_hour is None) == (self.capex is None):
            field = "chip_hour" if self.chip_hour is None else "capex"
            raise PydanticCustomError("cost", "give either chip_hour (a cloud price in USD per chip-hour) or capex "
                                      "(price, years) for an owned chip, not {both}",
                                      {"both": "neither" if self.chip_hour is None else "both", "field": field})
        if self.chip_hour is not None:
            extra = next((f for f in CAPEX_ONLY if f in self.model_fields_set), None)
            if extra is not None:
                raise PydanticCustomError("cost", "applies to an owned chip (capex) only: a cloud chip_hour price "
                                          "already includes power and hosting", {"field": extra})
        return self

    @property
    def kind(self) -> Literal["cloud", "owned"]:
        return "cloud" if self.chip_hour is not None else "owned"


# ---- area ----------------------------------------------------------------------------------------------


def area_nodes_path() -> Path:
    """The technology-node area table, shipped with the presets (configs/area/nodes.yaml)."""
    return preset_dir() / "area" / "nodes.yaml"


@cache
def area_nodes() -> dict:
    """The raw node table, read once (only by a chip that has an `area:` section with a node)."""
    data = read_mapping(area_nodes_path())
    return data if isinstance(data, dict) else {}


class AreaNodeConfig(_Strict):
    """One node of configs/area/nodes.yaml. A figure the sources do not give is absent, not guessed: a chip
    that needs it gets no modelled area, and its run says which figure was missing."""

    description: str = ""
    mac: dict[Literal[DTYPES], Area] = {}  # mm² per MAC unit (one PE) sized for that dtype
    sram_per_mb: Area | None = None  # mm² per MB (10⁶ bytes) of SRAM, periphery included


class AreaConfig(_Strict):
    """The die: `die` when its size is published (reported as is), else modelled from `node`'s mm² per MAC
    and per MB of SRAM, plus `other` for what the model does not count (I/O and PHYs, vector units, control,
    the network on chip)."""

    node: str | None = None  # configs/area/nodes.yaml
    die: Area | None = None
    # The dtype each PE is sized for; None: the widest dtype of core.mxu.macs_per_pe.
    mac_dtype: Literal[DTYPES] | None = None
    other: Area = 0.0

    @field_validator("node")
    @classmethod
    def _known_node(cls, v):
        nodes = area_nodes()
        if v is not None and v not in nodes:
            raise PydanticCustomError("area_node", "unknown technology node; the nodes in {file} are {nodes}",
                                      {"file": "configs/area/nodes.yaml", "nodes": ", ".join(nodes)})
        return v

    @model_validator(mode="after")
    def _something(self):
        if self.node is None and self.die is None:
            raise PydanticCustomError("area", "needs node (to model the die from configs/area/nodes.yaml) or die "
                                      "(a published die size, e.g. 814 mm²)", {"field": "node"})
        return self
