"""What one chip costs per hour held, from its `cost:` section (../shared/reference/costs.md §3.1):

    cloud:  chip_hour / utilization
    owned:  (price / (years × 8760 h) + watts / 1000 × host_overhead × PUE × $/kWh) / utilization

`watts` is `cost.power` when the file gives it, else the run's average power per chip (energy model)."""

from dataclasses import dataclass

from simulator.config.cost import HOURS_PER_YEAR, CapexConfig, CostConfig


def capex_per_hour(capex: CapexConfig) -> float:
    """USD per hour of straight-line amortization: price / (years × 8760)."""
    return capex.price / (capex.years * HOURS_PER_YEAR)


def energy_per_hour(cost: CostConfig, watts: float) -> float:
    """USD per hour of electricity for one chip drawing `watts`: kW × host overhead × PUE × $/kWh."""
    return watts / 1000 * cost.host_overhead * cost.pue * cost.electricity


@dataclass(frozen=True)
class HourlyCost:
    """One chip's cost per hour held, and its parts (USD)."""

    kind: str  # cloud | owned
    per_hour: float  # what a run is charged per chip-hour: the parts below over the utilization
    capex: float = 0.0  # owned: amortization per hour
    energy: float = 0.0  # owned: electricity per hour
    watts: float | None = None  # owned: the power the electricity was charged at; None: not charged
    watts_from: str = ""  # "cost.power" or "the run's average power"

    @property
    def per_second(self) -> float:
        return self.per_hour / 3600


def hourly_cost(cost: CostConfig, run_watts: float | None = None) -> HourlyCost:
    """The chip-hour of `cost`; an owned chip's electricity at cost.power, else at `run_watts` (the run's
    average power per chip), else not charged (a run without an energy model: serving)."""
    if cost.chip_hour is not None:
        return HourlyCost("cloud", cost.chip_hour / cost.utilization)
    watts, source = ((cost.power, "cost.power") if cost.power is not None
                     else (run_watts, "the run's average power") if run_watts else (None, ""))
    capex = capex_per_hour(cost.capex)
    energy = 0.0 if watts is None else energy_per_hour(cost, watts)
    return HourlyCost("owned", (capex + energy) / cost.utilization, capex, energy, watts, source)
