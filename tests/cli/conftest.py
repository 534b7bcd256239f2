"""What the command-line tests share: the repository root as the working folder, so that the README's
relative paths (configs/…, workloads/…) resolve (tests/cli/helpers.py has the `cli` call)."""

import pytest

from tests.cli.helpers import ROOT


@pytest.fixture
def in_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)
