"""How the kernels run: compiled by numba, or as the plain Python they are written in.

`@kernel` stands where `numba.njit(cache=True)` stood. The function it makes is called as the njit function
was, and runs one of two ways, per call, as the process's mode says:

- compiled: `numba.njit(cache=True)` of the Python function, made (and numba imported, its on-disk cache read)
  on first use. numba types a kernel as that dispatcher (`_numba_type_`), so compiled kernels call each
  other, and njit code elsewhere (the tests' oracles) calls them, as they called njit functions;
- interpreted: the same function run by the interpreter over a copy of its module's globals in which every
  kernel is its interpreted twin (so kernels call each other directly, without the mode) and each name in the
  module's INTERPRETED_AS has the value given there. What it returns comes back as numba boxes it: numpy
  scalars as int, float and bool. numba is never imported for it.

The kernels are written in the part of Python numba compiles, where the interpreter computes the same IEEE
doubles and, far below 2**63, the same integers: the two give equal results, bit for bit and of equal types
(tests/kernels/test_jit.py holds each kernel to that on random arguments; tests/kernels/
test_interpreted_golden.py holds golden cases, every op row, to it).

The mode is TORTOISE_KERNELS, read at the first kernel call: `numba`, `python`, or `auto`: interpreted until
the interpreted kernels have taken AUTO_BUDGET_S seconds in all, then compiled for the rest of the process
(numba's import and the loading of its cached kernels cost a process about 0.85 s, more than small work
takes interpreted). Unset, the kernels are compiled; the `tortoise run` command sets it for its own process
where the user has not (simulator/cli.py, `kernel_choice`).
"""

import functools
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from simulator.errors import ConfigError

ENV = "TORTOISE_KERNELS"
MODES = ("numba", "python", "auto")
DEFAULT = "numba"
MEMO_SIZE = 4096  # interpreted results kept per memo kernel
AUTO_BUDGET_S = 0.6  # interpreted kernel time after which `auto` switches to numba for the rest of the process

_mode: str | None = None  # fixed at the first kernel call (auto turns into numba once its budget is spent)
_interpreted_s = 0.0  # time spent in interpreted kernels in `auto` mode
_interpreted_globals: dict[str, dict] = {}  # module name → its globals with every kernel interpreted


def mode_from(value: str | None) -> str:
    """The mode a value of TORTOISE_KERNELS asks for (unset or empty: the default); a ConfigError otherwise."""
    if not value:
        return DEFAULT
    if value not in MODES:
        raise ConfigError("environment", ENV, value, "must be numba, python or auto (or unset)")
    return value


def mode() -> str:
    """The mode kernel calls run in now, reading TORTOISE_KERNELS if no kernel has been called yet."""
    global _mode
    if _mode is None:
        _mode = mode_from(os.environ.get(ENV))
    return _mode


def interpreted_seconds() -> float:
    """Time `auto` mode has spent in interpreted kernels so far."""
    return _interpreted_s


class Kernel:
    """A kernel function: compiled or interpreted per call (see the module's docstring)."""

    def __init__(self, func, memo: bool = False):
        functools.update_wrapper(self, func)
        self.py_func = func
        self.memo = memo
        self._compiled = None
        self._interpreted = None

    @property
    def compiled(self):
        """The numba dispatcher (numba is imported and the on-disk cache read on first use). Compiled without
        an on-disk cache where no folder at all can hold one."""
        if self._compiled is None:
            use_cache_dir()
            from numba import njit

            try:
                self._compiled = njit(cache=True)(self.py_func)
            except RuntimeError as exc:  # "cannot cache function …: no locator available"
                if "cannot cache" not in str(exc):
                    raise
                self._compiled = njit(self.py_func)
        return self._compiled

    @property
    def _numba_type_(self):  # numba's typeof reads this: a kernel is typed as its compiled dispatcher
        return self.compiled._numba_type_

    @property
    def interpreted(self):
        """The Python function, over its module's globals with the kernels in them interpreted."""
        if self._interpreted is None:
            f = self.py_func
            twin = types.FunctionType(f.__code__, _globals_of(f.__module__, f.__globals__), f.__name__,
                                      f.__defaults__, f.__closure__)
            self._interpreted = _memoized(twin) if self.memo else twin
        return self._interpreted

    def interpret(self, *args, **kwargs):
        """The interpreted call, its result as the compiled one returns it (whatever the mode)."""
        return _boxed(self.interpreted(*args, **kwargs))

    def __call__(self, *args, **kwargs):
        current = _mode or mode()
        if current == "numba":
            return self.compiled(*args, **kwargs)
        if current == "python":
            return self.interpret(*args, **kwargs)
        return self._auto(args, kwargs)

    def _auto(self, args, kwargs):
        global _interpreted_s, _mode
        start = time.perf_counter()
        try:
            return self.interpret(*args, **kwargs)
        finally:
            _interpreted_s += time.perf_counter() - start
            if _interpreted_s > AUTO_BUDGET_S:
                _mode = "numba"

    def __repr__(self):
        return f"<kernel {self.__module__}.{self.__qualname__}>"

    def __reduce__(self):  # pickled by name, like a function
        return _named, (self.__module__, self.__qualname__)


CACHE_ENV = "NUMBA_CACHE_DIR"
IN_TREE = Path(__file__).parent / "__pycache__"  # where numba caches the kernels when it can write there
_cache_checked = False


def _writable(folder: Path) -> bool:
    """`folder` exists (made if need be) and a file can be created in it: what numba's cache needs."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def cache_dir() -> Path | None:
    """Where numba should keep the compiled kernels; None: where numba keeps them by itself (the __pycache__
    beside the kernels, when it can be written, or a NUMBA_CACHE_DIR the user set). A read-only install gets
    a per-user cache folder ($XDG_CACHE_HOME or ~/.cache, then tortoise/numba); where HOME cannot be written
    either, one in the temporary folder, per user."""
    if os.environ.get(CACHE_ENV) or _writable(IN_TREE):
        return None
    candidates = []
    home = os.path.expanduser("~")
    base = os.environ.get("XDG_CACHE_HOME") or (os.path.join(home, ".cache") if home != "~" else None)
    if base:
        candidates.append(Path(base) / "tortoise" / "numba")
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    candidates.append(Path(tempfile.gettempdir()) / f"tortoise-{uid}" / "numba")
    return next((folder for folder in candidates if _writable(folder)), None)


def use_cache_dir() -> None:
    """Point numba's cache at cache_dir() (once per process, before numba compiles a kernel), so that a
    read-only install or an unwritable HOME never stops a compiled run."""
    global _cache_checked
    if _cache_checked:
        return
    _cache_checked = True
    folder = cache_dir()
    if folder is None:
        return
    os.environ[CACHE_ENV] = str(folder)
    if "numba" in sys.modules:  # imported already (read its config at import): tell it too
        from numba.core import config

        config.CACHE_DIR = str(folder)


def _named(module: str, name: str) -> "Kernel":
    import importlib

    return getattr(importlib.import_module(module), name)


def kernel(func=None, *, memo: bool = False):
    """Decorator: `func` becomes a kernel (numba.njit(cache=True) when compiled). `@kernel(memo=True)`: its
    interpreted results are kept by arguments (all scalars), for a costly kernel that callers repeat (the
    tile chooser times a tile, then the op's timing times the chosen one again)."""
    if func is None:
        return lambda f: Kernel(f, memo)
    return Kernel(func, memo)


def _globals_of(module: str, namespace: dict) -> dict:
    """A copy of a kernel module's globals in which each kernel is its interpreted function, and each name in
    the module's INTERPRETED_AS (if any) has the value given there (a numpy zero numba needs typed is a plain 0
    to the interpreter, where numpy scalars are slow)."""
    found = _interpreted_globals.get(module)
    if found is None:
        found = _interpreted_globals[module] = dict(namespace)
        for name, value in namespace.items():
            if isinstance(value, Kernel):
                found[name] = value.interpreted
        found.update(namespace.get("INTERPRETED_AS", {}))
    return found


def _memoized(func):
    """`func` keeping its results by arguments, which must be scalars (and strings or None). Keys tell ints,
    floats and bools apart, and floats by their bits (0.0 from -0.0), since numba would compile each type
    apart; a numpy scalar keys as the Python value it boxes to."""
    results: dict = {}

    @functools.wraps(func)
    def call(*args, **kwargs):
        key = tuple(map(_key, args)) + tuple((name, _key(value)) for name, value in sorted(kwargs.items()))
        found = results.get(key)
        if found is None:
            if len(results) >= MEMO_SIZE:
                del results[next(iter(results))]  # the oldest
            found = results[key] = func(*args, **kwargs)
        return found

    return call


def _key(value):
    if isinstance(value, bool | np.bool_):
        return "b", bool(value)
    if isinstance(value, int | np.integer):
        return "i", int(value)
    if isinstance(value, float | np.floating):
        return "f", float(value).hex()
    return value


def _boxed(value):
    """A result as numba returns it to Python: numpy scalars as int, float, bool; tuples item by item."""
    if type(value) is tuple:
        return tuple(_boxed(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value
