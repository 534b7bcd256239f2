"""`tortoise ARGV` called in the test process, reported as its own process would report it.

A start-up of the interpreter costs about 0.8 s of CPU, a malformed input's one-line error about 10 ms, so
the corpora of bad input call `simulator.cli.main` here and keep a few cases as real processes (those that
could hang in C code, overflow the stack or exhaust memory, which no alarm here can stop)."""

import signal
import traceback
import warnings

from simulator.cli import main

HANG = 120  # seconds: a case still running then has hung (the promise is well under 10 s)


class Hung(BaseException):
    """The alarm of `run_in_process`: a BaseException, so that no `except Exception` under test takes it."""


def _stop(signum, frame):
    raise Hung


def _interpreter_warning_filters() -> None:
    """The warning filters of a `python -m simulator.cli` process (Python's defaults, simulator.cli as __main__)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
    warnings.filterwarnings("default", category=DeprecationWarning, module="simulator.cli")


def run_in_process(argv: list[str], capfd, hang: int = HANG) -> tuple[int | None, str, str]:
    """(exit status, stdout, stderr) of `tortoise ARGV` called here, as its own process would give them:
    SystemExit's status (a text one printed, status 1), an escaping exception's traceback (status 1), the
    warnings it printed ahead of the rest; a call still running after `hang` seconds is stopped, status None
    and "(hung: …)" on stderr. The caller sets the working folder."""
    previous = signal.signal(signal.SIGALRM, _stop)
    signal.alarm(hang)
    tail = ""
    try:
        with warnings.catch_warnings(record=True) as caught:
            _interpreter_warning_filters()
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's errors
                text = exc.code is not None and not isinstance(exc.code, int)
                code, tail = (1, f"{exc.code}\n") if text else (exc.code or 0, "")
            except Hung:
                code, tail = None, f"(hung: stopped after {hang} s)\n"
            except BaseException:  # the process would have printed it and ended with status 1
                code, tail = 1, traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capfd.readouterr()
    printed = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught)
    return code, out, printed + err + tail
