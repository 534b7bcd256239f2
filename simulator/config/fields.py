"""Config fields that take readable units ("80 GB", "1.98 GHz", "3.35 TB/s"): each parses its text into a
number (simulator/config/units.py) and fails with the unit's one-line help; schema.py and cost.py share them."""

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from simulator.config import units


def unit_field(parser, help_text):
    def parse(value):
        try:
            return parser(value)
        except (ValueError, TypeError):
            raise PydanticCustomError("unit", help_text) from None

    return BeforeValidator(parse)


Size = Annotated[int, unit_field(units.parse_size, units.SIZE_HELP), PlainSerializer(lambda v: v)]
Frequency = Annotated[float, unit_field(units.parse_frequency, units.FREQ_HELP)]
Rate = Annotated[units.Rate, unit_field(units.parse_rate, units.RATE_HELP), PlainSerializer(str)]
Latency = Annotated[units.Latency, unit_field(units.parse_latency, units.TIME_HELP), PlainSerializer(str)]
Energy = Annotated[float, unit_field(units.parse_energy, units.ENERGY_HELP), PlainSerializer(units.format_energy)]
EnergyPerByte = Annotated[float, unit_field(units.parse_energy_per_byte, units.ENERGY_PER_BYTE_HELP),
                          PlainSerializer(units.format_energy_per_byte)]
Power = Annotated[float, unit_field(units.parse_power, units.POWER_HELP), PlainSerializer(units.format_power)]
