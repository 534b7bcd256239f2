"""Shared fixtures: chips built from bundled presets and small synthetic configs."""

import pytest

from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip


@pytest.fixture(scope="session")
def h100() -> Chip:
    return Chip(load_chip("h100"))


@pytest.fixture(scope="session")
def a100() -> Chip:
    return Chip(load_chip("a100"))


@pytest.fixture(scope="session")
def tpu_v4() -> Chip:
    return Chip(load_chip("tpu_v4"))


def make_chip(*overrides: str, base: str = "systolic_32x32") -> Chip:
    """A chip from a preset with `path=value` overrides, e.g. make_chip('cores=4')."""
    return Chip(load_chip(base, list(overrides)))
