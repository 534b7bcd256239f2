"""User-facing errors: each renders as one line, so the CLI never shows a traceback for bad input."""

import reprlib

_SHORT = reprlib.Repr()  # Python 3.11's Repr takes its limits as attributes
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxset = 3, 6, 6, 6, 6
_SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 120, 60, 120


def shown_value(value) -> str:
    """repr(value), or a bounded one (reprlib) when the value is long or deep: a message stays one short
    line, and a huge value (a YAML alias expansion) is never walked whole."""
    short = _SHORT.repr(value)
    return repr(value) if "..." not in short else short


class TortoiseError(Exception):
    """Base of every error the CLI reports as a single line with exit status 2."""


class ConfigError(TortoiseError):
    """A bad value in a config, workload or override: names where, what, and what is allowed."""

    def __init__(self, source: str, field: str, value, allowed: str):
        # Positional args are kept so the error can be re-raised by copying (simpy does this).
        super().__init__(source, field, value, allowed)
        self.source, self.field, self.value, self.allowed = source, field, value, allowed

    def __str__(self):
        if not self.field:  # about the file or argument as a whole: `file: line 3, column 1: not valid YAML`
            if self.value == self.source:
                return f"{self.source}: {self.allowed}"
            return f"{self.source}: {self.value}: {self.allowed}"
        shown = "(missing)" if self.value is MISSING else shown_value(self.value)
        return f"{self.source}: {self.field} = {shown}: {self.allowed}"


class CapacityError(TortoiseError):
    """The work does not fit the hardware (e.g. SRAM too small for the smallest tile)."""


class _Missing:
    def __repr__(self):
        return "(missing)"


MISSING = _Missing()
