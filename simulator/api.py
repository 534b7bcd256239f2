"""One call from files to results, shared by the CLI, benchmarks and tests."""

from dataclasses import dataclass

import pandas as pd

from simulator.config.loader import load_chip
from simulator.config.schema import ChipConfig
from simulator.engine.record import OpRecord
from simulator.engine.run import simulate
from simulator.hardware.chip import Chip
from simulator.results.metrics import op_table, summarize
from simulator.workloads.loader import load_workload
from simulator.workloads.ops import OpGraph


@dataclass(frozen=True)
class RunResult:
    chip: Chip
    graph: OpGraph
    records: list[OpRecord]
    summary: dict
    table: pd.DataFrame


def run_graph(chip: Chip | ChipConfig, graph: OpGraph) -> RunResult:
    chip = chip if isinstance(chip, Chip) else Chip(chip)
    records = simulate(chip, graph)
    return RunResult(chip, graph, records, summarize(chip, graph.name, records), op_table(chip, records))


def run_files(hardware: str, workload: str, hardware_overrides=(), workload_overrides=()) -> RunResult:
    return run_graph(load_chip(hardware, list(hardware_overrides)), load_workload(workload, list(workload_overrides)))
