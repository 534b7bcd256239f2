"""One call from files to results, shared by the CLI, benchmarks and tests."""

import gc
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from simulator.config.loader import load_chip
from simulator.config.schema import ChipConfig
from simulator.engine.network import collective_cycles
from simulator.engine.program import PassRun, run_program
from simulator.engine.record import OpRecord
from simulator.errors import ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.ir.ops import OpGraph
from simulator.ir.program import Program
from simulator.mapping.placement import Placement
from simulator.mapping.program import map_graph, map_passes
from simulator.results.cost import cost_figures
from simulator.results.llm import Parts, Scale, breakdown_rows, llm_rows, llm_summary
from simulator.results.llm import breakdown as breakdown_table
from simulator.results.metrics import as_table, op_rows, summarize
from simulator.results.system import (
    LINK_COLUMNS,
    TIMELINE_COLUMNS,
    link_rows,
    stage_rows,
    system_summary,
    timeline_rows,
)
from simulator.results.training import training_parts, training_summary
from simulator.workloads.capacity import (
    Footprint,
    check_capacity,
    check_sram_capacity,
    check_training_capacity,
    footprint,
    training_footprint,
)
from simulator.workloads.loader import LLMWorkload, load_workload
from simulator.workloads.scenario import Training
from simulator.workloads.training import lower_training
from simulator.workloads.transformer import lower

if TYPE_CHECKING:
    import pandas as pd

    from simulator.serving.service import ServeResult


@dataclass(frozen=True)
class RunResult:
    chip: Chip
    graph: OpGraph
    records: list[OpRecord]
    summary: dict
    rows: list[dict]  # the op table's rows; `table` is built from them on first read (pandas only then)

    @cached_property
    def table(self) -> "pd.DataFrame":
        return as_table(self.rows)


def run_graph(chip: Chip | ChipConfig, graph: OpGraph) -> RunResult:
    chip = chip if isinstance(chip, Chip) else Chip(chip)
    system = chip.config.system
    rate = chip.hbm.achievable_bytes_per_cycle  # bounds a reduction's rate (reads and writes of HBM)
    topology = build_topology(system, chip.clock_hz, rate) if system.chips > 1 else None
    program = map_graph(chip, graph, topology, collective_cycles)
    records = run_program(program)[0].segments[0].records
    summary = with_cost(chip, summarize(chip, graph.name, records), system.chips)
    return RunResult(chip, graph, records, summary, op_rows(chip, records))


def with_cost(chip: Chip, summary: dict, chips: int) -> dict:
    """The summary with its cost, perf/$, perf/W and die-area figures (results/cost.py), and their notes
    among its assumptions."""
    figures, notes = cost_figures(chip, summary, chips)
    summary |= figures
    summary["assumptions"] = [*summary.get("assumptions", []), *notes]
    return summary


@dataclass(frozen=True)
class LLMResult:
    chip: Chip
    workload: LLMWorkload
    runs: list[PassRun]
    footprint: Footprint  # per chip
    summary: dict
    parts: Parts  # the op table's columns the figures come from; its rows and tables are built on first read
    breakdown_rows: list[dict]  # `breakdown`'s
    stage_rows: list[dict] | None = None  # systems: `stages`'
    link_rows: list[dict] | None = None  # systems: `links`'
    timeline_rows: list[dict] | None = None  # systems: `timeline`'s
    placement: Placement | None = None  # systems: the topology and where the parallel ranks sit

    @cached_property
    def rows(self) -> list[dict]:
        """`table`'s rows: one per op per pass (and stage); layer ops once, with repeat = layers."""
        return llm_rows(self.chip, self.runs, self.parts.cache)

    @cached_property
    def table(self) -> "pd.DataFrame":
        return as_table(self.rows)

    @cached_property
    def breakdown(self) -> "pd.DataFrame":
        """Per op group."""
        return breakdown_table(self.chip, self.table)

    @cached_property
    def stages(self) -> "pd.DataFrame | None":
        """Systems: per pipeline stage, where each chip's time goes."""
        return None if self.stage_rows is None else as_table(self.stage_rows)

    @cached_property
    def links(self) -> "pd.DataFrame | None":
        """Systems: per link, bytes carried and utilization."""
        return None if self.link_rows is None else as_table(self.link_rows, LINK_COLUMNS)

    @cached_property
    def timeline(self) -> "pd.DataFrame | None":
        """Systems: pipeline spans per stage and micro-batch."""
        return None if self.timeline_rows is None else as_table(self.timeline_rows, TIMELINE_COLUMNS)


def placement_for(chip: Chip, workload: LLMWorkload) -> Placement | None:
    """None for one chip running alone (the single-chip path); else where the parallel ranks sit."""
    system, parallel = chip.config.system, workload.parallel
    if parallel.chips > system.chips:
        raise ConfigError(workload.source, "parallel", f"tp×cp×pp×ep×dp = {parallel.chips} chips",
                          f"{chip.name} has system.chips = {system.chips}; lower the parallel degrees or "
                          "use a bigger system")
    if system.chips == 1:
        return None
    topology = build_topology(system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    return Placement(topology, parallel, system.collectives)


def map_llm(chip: Chip, passes, placement: Placement | None) -> Program:
    return map_passes(chip, passes, placement, collective_cycles)


def simulate_passes(chip: Chip, passes, progress=None, placement: Placement | None = None) -> list[PassRun]:
    """Map lowered passes onto the chip (or the placement's chips) and run them."""
    return run_program(map_llm(chip, passes, placement), progress)


def run_llm(chip: Chip | ChipConfig, workload: LLMWorkload, progress=None) -> LLMResult:
    """Lower, check capacity, simulate every pass, and compute the LLM figures (a training step's with
    `scenario.phase: train`)."""
    chip = chip if isinstance(chip, Chip) else Chip(chip)
    placement = placement_for(chip, workload)
    parallel, scenario = workload.parallel, workload.scenario
    if scenario.phase == "train":
        training = workload.training or Training()
        passes = lower_training(workload.model, scenario, training, parallel, workload.source)
        fp = training_footprint(workload.model, scenario, training, passes, parallel)
        if scenario.check_capacity:
            check_training_capacity(fp, chip.hbm.size, workload.model, training, scenario, chip.name,
                                    workload.source, parallel)
    else:
        passes = lower(workload.model, scenario, parallel)
        fp = footprint(workload.model, scenario, passes, parallel)
        if scenario.check_capacity and chip.sram_only:  # weights resident in SRAM: the chips it takes
            check_sram_capacity(fp, chip.hbm.size, workload.model, scenario, chip.name, workload.source, parallel,
                                chip.config.system.chips)
        elif scenario.check_capacity:
            check_capacity(fp, chip.hbm.size, workload.model, scenario, chip.name, workload.source, parallel)
    runs = simulate_passes(chip, passes, progress, placement)
    if scenario.phase == "train":
        parts = training_parts(chip, runs)
        groups = breakdown_rows(chip, parts)
        summary = training_summary(chip, workload, runs, parts, groups, fp, parallel.chips,
                                   parallel.stage_chips * parallel.dp)
    else:
        parts = Parts(chip, runs)
        groups = breakdown_rows(chip, parts)
        scale = Scale(parallel.chips, parallel.stage_chips * parallel.microbatches * parallel.dp)
        summary = llm_summary(chip, workload, runs, parts, groups, fp, scale)
    with_cost(chip, summary, parallel.chips)
    if placement is None:
        return LLMResult(chip, workload, runs, fp, summary, parts, groups)
    stages = stage_rows(chip, runs, parallel.stage_chips * parallel.dp)
    links = link_rows(chip, placement.topology, runs)
    summary |= system_summary(chip, placement, runs, stages, links)
    return LLMResult(chip, workload, runs, fp, summary, parts, groups, stages, links, timeline_rows(chip, runs),
                     placement)


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector off for the duration. A run allocates hundreds of thousands of
    small acyclic objects that live to its end (steps, records, rows); each full collection walks all of
    them again, about a quarter of a long generation's time. Reference counting frees them as before;
    the few cycles a run makes are collected after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_workload(chip: Chip | ChipConfig, workload: OpGraph | LLMWorkload,
                 progress=None) -> "RunResult | LLMResult | ServeResult":
    """A serving workload (`scenario.phase: serve`) is served (simulator/serving); anything else is run."""
    with collector_paused():
        if isinstance(workload, LLMWorkload):
            if workload.scenario.phase == "serve":
                from simulator.serving.service import simulate_service

                return simulate_service(chip if isinstance(chip, Chip) else Chip(chip), workload, progress=progress)
            return run_llm(chip, workload, progress)
        return run_graph(chip, workload)


def run_files(hardware: str, workload: str, hardware_overrides=(), workload_overrides=(),
              progress=None) -> RunResult | LLMResult:
    return run_workload(load_chip(hardware, list(hardware_overrides)),
                        load_workload(workload, list(workload_overrides)), progress)
