"""Small services for the serving tests: Llama-3-8B cut to two layers keeps each engine part quick, while
every op, shape rule and batching decision stays that of the real model."""

import textwrap
from pathlib import Path

import pytest

from simulator.config.loader import load_chip
from simulator.hardware.chip import Chip
from simulator.workloads.loader import load_workload

ROOT = Path(__file__).resolve().parents[2]


def serve_file(tmp_path: Path, serving: str, parallel: str = "", layers: int = 2, name: str = "svc") -> Path:
    path = tmp_path / f"{name}.yaml"
    text = f"""\
        name: {name}
        model: {ROOT / 'workloads' / 'models' / 'llama3_8b.json'}
        scenario:
          phase: serve
        """
    body = textwrap.dedent(text)
    if parallel:
        body += f"parallel:\n{textwrap.indent(textwrap.dedent(parallel), '  ')}"
    body += "serving:\n" + textwrap.indent(textwrap.dedent(serving), "  ")
    path.write_text(body)
    return path


@pytest.fixture(scope="session")
def h100():
    return Chip(load_chip("h100", []))


@pytest.fixture
def service(tmp_path):
    """service(serving_yaml, parallel_yaml="", layers=2) → an LLMWorkload."""

    def make(serving: str, parallel: str = "", layers: int = 2, sets=()):
        path = serve_file(tmp_path, serving, parallel)
        return load_workload(path, [f"model.num_hidden_layers={layers}", *sets])

    return make
