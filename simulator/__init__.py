"""Tortoise: a cycle-level simulator of AI accelerators.

`import simulator as ts` is cheap: it imports nothing but this file. The Python API (docs/api.md) comes from
simulator/notebook.py on first use: `ts.run`, `ts.serve`, `ts.sweep`, `ts.load`, `ts.model`, `ts.Result`, and the
errors it raises (`ts.TortoiseError`, `ts.ConfigError`, `ts.CapacityError`).
"""

import importlib
import sys
import types

__version__ = "0.1.0"

_API = ("run", "serve", "load", "model", "Result")  # simulator/notebook.py (and `sweep`, below)
_ERRORS = ("TortoiseError", "ConfigError", "CapacityError")
__all__ = ["run", "sweep", "load", "model", "Result", *_ERRORS]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module("simulator.notebook"), name)
    if name in _ERRORS:
        return getattr(importlib.import_module("simulator.errors"), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Sweep:
    """`simulator.sweep` names two things: the sweep package (simulator/sweep/, whose modules and attributes
    this forwards to) and, called, the API's `ts.sweep(file, out=…)` (simulator/notebook.py)."""

    def __call__(self, *args, **kwargs):
        return importlib.import_module("simulator.notebook").sweep(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(importlib.import_module("simulator.sweep"), name)

    def __repr__(self) -> str:
        return "<simulator.sweep: the sweep package; call it to run a sweep file (docs/api.md)>"


class _Package(types.ModuleType):
    """This package's module type. Importing any `simulator.sweep.…` module makes the import system set the
    package's `sweep` attribute to the subpackage, which would replace the API function; the property keeps
    `sweep` the callable forwarder (the subpackage itself stays in sys.modules, where imports find it)."""

    sweep = property(lambda self: _SWEEP, lambda self, value: None)


_SWEEP = _Sweep()
sys.modules[__name__].__class__ = _Package
