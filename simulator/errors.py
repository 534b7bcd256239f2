"""User-facing errors: each renders as one line, so the CLI never shows a traceback for bad input."""


class TortoiseError(Exception):
    """Base of every error the CLI reports as a single line with exit status 2."""


class ConfigError(TortoiseError):
    """A bad value in a config, workload or override: names where, what, and what is allowed."""

    def __init__(self, source: str, field: str, value, allowed: str):
        self.source, self.field, self.value, self.allowed = source, field, value, allowed
        shown = "(missing)" if value is _MISSING else repr(value)
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where} = {shown}: {allowed}")


class CapacityError(TortoiseError):
    """The work does not fit the hardware (e.g. SRAM too small for the smallest tile)."""


class _Missing:
    def __repr__(self):
        return "(missing)"


_MISSING = _Missing()
MISSING = _MISSING
