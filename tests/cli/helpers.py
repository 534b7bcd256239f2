"""One call of the `tortoise` command inside the test process, with what it printed."""

from pathlib import Path

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(capsys, *argv):
    """(exit status, stdout, stderr) of `tortoise ARGV`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
