"""One call from files to results, shared by the CLI, benchmarks and tests."""

from dataclasses import dataclass

import pandas as pd

from simulator.config.loader import load_chip
from simulator.config.schema import ChipConfig
from simulator.engine.passes import PassRun, simulate_passes
from simulator.engine.record import OpRecord
from simulator.engine.run import simulate
from simulator.hardware.chip import Chip
from simulator.results.llm import breakdown, llm_summary, llm_table
from simulator.results.metrics import op_table, summarize
from simulator.workloads.capacity import Footprint, check_capacity, footprint
from simulator.workloads.loader import LLMWorkload, load_workload
from simulator.workloads.ops import OpGraph
from simulator.workloads.transformer import lower


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


@dataclass(frozen=True)
class LLMResult:
    chip: Chip
    workload: LLMWorkload
    runs: list[PassRun]
    footprint: Footprint
    summary: dict
    table: pd.DataFrame  # one row per op per pass; layer ops once, with repeat = layers
    breakdown: pd.DataFrame  # per op group


def run_llm(chip: Chip | ChipConfig, workload: LLMWorkload, progress=None) -> LLMResult:
    """Lower, check capacity, simulate every pass, and compute the LLM figures."""
    chip = chip if isinstance(chip, Chip) else Chip(chip)
    passes = lower(workload.model, workload.scenario)
    fp = footprint(workload.model, workload.scenario, passes)
    if workload.scenario.check_capacity:
        check_capacity(fp, chip.hbm.size, workload.model, workload.scenario, chip.name, workload.source)
    runs = simulate_passes(chip, passes, progress)
    table = llm_table(chip, runs)
    groups = breakdown(chip, table)
    return LLMResult(chip, workload, runs, fp, llm_summary(chip, workload, runs, table, groups, fp), table, groups)


def run_workload(chip: Chip | ChipConfig, workload: OpGraph | LLMWorkload, progress=None) -> RunResult | LLMResult:
    if isinstance(workload, LLMWorkload):
        return run_llm(chip, workload, progress)
    return run_graph(chip, workload)


def run_files(hardware: str, workload: str, hardware_overrides=(), workload_overrides=(),
              progress=None) -> RunResult | LLMResult:
    return run_workload(load_chip(hardware, list(hardware_overrides)),
                        load_workload(workload, list(workload_overrides)), progress)
