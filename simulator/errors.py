"""User-facing errors: each renders as one line, so the CLI never shows a traceback for bad input."""


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
        shown = "(missing)" if self.value is MISSING else repr(self.value)
        return f"{self.source}: {self.field} = {shown}: {self.allowed}"


class CapacityError(TortoiseError):
    """The work does not fit the hardware (e.g. SRAM too small for the smallest tile)."""


class _Missing:
    def __repr__(self):
        return "(missing)"


MISSING = _Missing()
