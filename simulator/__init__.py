"""Tortoise: a cycle-level simulator of AI accelerators."""

__version__ = "0.1.0"
