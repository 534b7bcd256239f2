"""Shared fixtures: chips built from bundled presets and small synthetic configs.

Property tests draw the same examples on every run (hypothesis profile `repeatable`: derandomized, no example
database), so a CI run and its rerun test the same inputs; `HYPOTHESIS_PROFILE=explore` draws fresh ones."""

import os

import pytest
from hypothesis import settings

from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip

settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


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
