"""A service under load, from a chip and a serving workload to figures and tables (docs/serving.md).

Instances: `parallel.dp` replicas of the tp × ep plan, requests dealt to them round robin in arrival
order; or, with `policy: disaggregated`, `prefill_instances` that only prefill and `decode_instances` that
only decode, the KV cache of each prompt sent between them. Replicas are identical, so they share one
iteration-cost cache. Pipeline parallelism is not simulated for serving (a one-line error says so)."""

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from simulator.errors import CapacityError, ConfigError
from simulator.hardware.chip import Chip
from simulator.hardware.topology import build_topology
from simulator.mapping.placement import Placement
from simulator.results.cost import serving_cost_figures
from simulator.results.llm import workload_assumptions
from simulator.serving.book import Book
from simulator.serving.cost import IterationCost
from simulator.serving.kv import BlockPool, KVLayout, kv_layout
from simulator.serving.loop import Instance, IterationRow, Loop, LoopResult
from simulator.serving.metrics import per_request, serving_figures
from simulator.serving.requests import Requests, load_requests
from simulator.workloads import kv_cache
from simulator.workloads.loader import resolve_model_path
from simulator.workloads.model import load_model
from simulator.workloads.parallel import Parallel
from simulator.workloads.serving import Serving
from simulator.workloads.sharding import check_serving_layout, local_model, validate_parallel

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_KV_BANDWIDTH = 50e9  # B/s per chip: one 400 Gb/s NIC (docs/serving.md, disaggregation)


@dataclass(frozen=True)
class ServeResult:
    chip: Chip
    workload: object  # LLMWorkload
    requests: Requests
    loop: LoopResult
    layout: KVLayout
    summary: dict
    cost: IterationCost  # its parts' timings, for a later run of the same service (capacity search)

    @cached_property
    def requests_table(self) -> "pd.DataFrame":
        """One row per request: arrival, admission, first token, finish (s), tokens, preemptions."""
        import pandas as pd

        book = self.loop.book
        times = per_request(book, self.chip.clock_hz)
        return pd.DataFrame({
            "id": list(self.requests.ids), "arrival_s": times["arrival_s"], "scheduled_s": times["scheduled_s"],
            "first_token_s": times["first_token_s"], "finish_s": times["finish_s"], "ttft_s": times["ttft_s"],
            "tpot_s": times["tpot_s"], "e2e_s": times["e2e_s"], "prompt_tokens": book.prompt,
            "output_tokens": book.output, "cached_tokens": book.cached, "preemptions": book.preemptions,
            "instance": book.instance,
        })

    @cached_property
    def iterations_table(self) -> "pd.DataFrame":
        """One row per iteration (scheduler call) of every instance, in start order."""
        import pandas as pd

        hz = self.chip.clock_hz
        rows = self.loop.rows
        columns = {name: [getattr(r, name) for r in rows] for name in IterationRow.__dataclass_fields__}
        table = pd.DataFrame(columns)
        for name in ("start", "end", "host", "swap"):
            table[f"{name}_s"] = table.pop(name) / hz
        table["tokens"] = table["decodes"] * table["steps"] + table["prefill_tokens"]
        table["kv_share"] = table["kv_blocks"] / self.layout.blocks
        return table


def check_plan(workload) -> None:
    """One-line errors for parallel plans the loop does not serve: pipeline stages, sequence parallelism."""
    parallel, source = workload.parallel, workload.source
    if parallel.pp > 1 or parallel.microbatches > 1:
        field = "pp" if parallel.pp > 1 else "microbatches"
        raise ConfigError(source, f"parallel.{field}", getattr(parallel, field),
                          "1 for serving (tp, ep and dp replicas are simulated; pipeline stages are not yet)")
    if parallel.sequence_parallel and parallel.tp > 1:
        raise ConfigError(source, "parallel.sequence_parallel", True,
                          "false for serving (an iteration's token count need not divide by tp)")
    check_serving_layout(parallel, source)


def draft_model(workload, serving: Serving, replica: Parallel):
    """Speculative decoding's draft model, checked against the replica's tensor split; None when off."""
    spec = serving.speculative
    if spec is None:
        return None
    source = workload.source
    if serving.scheduler.policy == "static" or serving.scheduler.steps > 1:
        field = "policy" if serving.scheduler.policy == "static" else "steps"
        raise ConfigError(source, f"serving.scheduler.{field}", getattr(serving.scheduler, field),
                          "continuous, chunked or disaggregated batching with one step per call, for speculative "
                          "decoding")
    draft = load_model(resolve_model_path(spec.draft, Path(source).parent, source))
    probe = workload.scenario.model_copy(update={"phase": "decode", "batch": 1})
    validate_parallel(draft, probe, replica.model_copy(update={"ep": 1}), f"{source} (serving.speculative.draft)")
    return draft


def fit_context(requests: Requests, limit: int | None, serving: Serving) -> tuple[Requests, int]:
    """Drawn lengths clipped so that prompt + output fits the model's context (a lognormal tail would
    otherwise ask for more than the model can hold), and how many were; a request file is taken as written
    (checked, not clipped)."""
    if serving.trace_file is not None or not limit:
        return requests, 0
    prompt = np.minimum(requests.prompt, limit - 1)
    output = np.minimum(requests.output, limit - prompt)
    clipped = int(((prompt != requests.prompt) | (output != requests.output)).sum())
    if not clipped:
        return requests, 0
    return replace(requests, prompt=prompt, output=output), clipped


def serving_assumptions(serving: Serving) -> list[str]:
    """The serving defaults that move the figures when the file leaves them out."""
    sched, notes = serving.scheduler, []
    if not {"overhead", "overhead_per_sequence", "overhead_per_sequence_step"} & sched.model_fields_set:
        notes.append("serving.scheduler.overhead = 0 (no host time per scheduler call; a vLLM-like engine spends "
                     "milliseconds, docs/serving.md)")
    if "memory_utilization" not in serving.kv.model_fields_set and serving.kv.blocks is None:
        notes.append("serving.kv.memory_utilization = 0.9 of HBM for weights, workspace and KV cache")
    return notes


def check_requests(workload, requests: Requests, layout: KVLayout, serving: Serving) -> None:
    """One-line errors for requests no instance can hold (a request file's: naming the file and the request)."""
    source = workload.source
    lengths = requests.prompt + requests.output
    longest = int(lengths.max())
    if serving.trace_file is not None:
        source = f"{serving.trace_file} (request {requests.ids[int(lengths.argmax())]})"
    if layout.blocks_for(longest) > layout.blocks:
        raise CapacityError(
            f"{source}: a request of {longest} tokens (prompt + output) needs {layout.blocks_for(longest)} KV blocks "
            f"of {layout.block_size} tokens, but an instance holds {layout.blocks}; raise parallel.tp, quantize the "
            f"KV cache (scenario.kv_cache=fp8) or shorten the requests")
    limit = workload.model.max_positions
    if limit and longest > limit:
        raise ConfigError(source, "prompt_tokens + output_tokens", longest,
                          f"at most {workload.model.name}'s max_position_embeddings = {limit}")


def _placement(chip: Chip, replica: Parallel) -> Placement | None:
    if replica.chips == 1:
        return None
    system = chip.config.system
    topology = build_topology(system, chip.clock_hz, chip.hbm.achievable_bytes_per_cycle)
    return Placement(topology, replica, system.collectives)


def simulate_service(chip: Chip, workload, serving: Serving | None = None, progress=None,
                     cost: IterationCost | None = None) -> ServeResult:
    """Serve the workload's requests on `chip`'s system; `serving` overrides the workload's section.
    `cost`: an earlier run's iteration costs of the same chip, workload and timing, reused (capacity search)."""
    serving = serving or workload.serving or Serving()
    check_plan(workload)
    model, scenario, parallel = workload.model, workload.scenario, workload.parallel
    disaggregated = serving.scheduler.policy == "disaggregated"
    replica = parallel.model_copy(update={"dp": 1})
    counts = ((serving.disaggregation.prefill_instances, serving.disaggregation.decode_instances) if disaggregated
              else (parallel.dp, 0))
    needed = sum(counts) * replica.chips
    if needed > chip.config.system.chips:
        field = "serving.disaggregation" if disaggregated else "parallel"
        raise ConfigError(workload.source, field, f"{sum(counts)} instances × {replica.chips} chips = {needed} chips",
                          f"{chip.name} has system.chips = {chip.config.system.chips}")
    requests = load_requests(serving, workload.source, Path(workload.source).parent)
    requests, clipped = fit_context(requests, model.max_positions, serving)
    draft = draft_model(workload, serving, replica)
    layout = kv_layout(model, scenario, replica, serving, chip.hbm.size, chip.name, workload.source, draft)
    check_requests(workload, requests, layout, serving)
    # the iterations read K and V as the paged cache's blocks (the kv-gather DRAM pattern under `banked`)
    scenario = scenario.model_copy(update={"kv_block": layout.block_size})
    book = Book.of(requests, chip.clock_hz)
    if cost is None or cost.timing != serving.timing:
        cost = IterationCost(chip, model, scenario, replica, _placement(chip, replica), serving.timing)

    draft_cost = None if draft is None else IterationCost(chip, draft, scenario, replica.model_copy(update={"ep": 1}),
                                                         cost.placement, serving.timing)

    def instance(index: int, role: str) -> Instance:
        return Instance(index, role, cost, BlockPool(layout, len(book)), serving, book, draft=draft_cost)

    swap = serving.kv.swap_bandwidth.bytes_per_cycle(chip.clock_hz)
    if disaggregated:
        prefill = [instance(i, "prefill") for i in range(counts[0])]
        decode = [instance(counts[0] + i, "decode") for i in range(counts[1])]
        link = serving.disaggregation.kv_bandwidth
        per_cycle = link.bytes_per_cycle(chip.clock_hz) if link else DEFAULT_KV_BANDWIDTH / chip.clock_hz
        latency = round(serving.disaggregation.kv_latency * chip.clock_hz)
        shard = local_model(model, replica)

        def handover(rid: int) -> int:  # every chip of the group sends its own shard at once (a window's worth)
            sent = kv_cache.held_bytes(shard, scenario.kv_cache, int(book.prompt[rid]) + 1)
            return latency + round(sent / per_cycle)

        loop = Loop(prefill, book, chip.clock_hz, handover, decode, swap, progress)
        dispatch = [rid % counts[0] for rid in range(len(book))]
    else:
        loop = Loop([instance(i, "both") for i in range(counts[0])], book, chip.clock_hz, swap_bytes_per_cycle=swap,
                    progress=progress)
        dispatch = [rid % counts[0] for rid in range(len(book))]
    result = loop.run(dispatch)
    if book.finished != len(book):  # the policies admit every request that fits an empty instance
        raise AssertionError(f"{len(book) - book.finished} requests never finished")
    summary = service_summary(chip, workload, serving, result, layout, cost, counts, clipped)
    return ServeResult(chip, workload, requests, result, layout, summary, cost)


def service_summary(chip: Chip, workload, serving: Serving, result: LoopResult, layout: KVLayout,
                    cost: IterationCost, counts: tuple[int, int], clipped: int = 0) -> dict:
    hz = chip.clock_hz
    figures = serving_figures(result.book, hz, serving.slo)
    rows = result.rows
    busy = sum(i.busy_cycles for i in result.instances)
    span = max(result.end - min(result.book.arrival), 1)
    weighted = sum((r.end - r.start) * (r.decodes + r.prefills) for r in rows)
    kv_time = sum((r.end - r.start) * r.kv_blocks for r in rows)
    scenario, parallel = workload.scenario, workload.parallel
    summary = {
        "workload": workload.name, "chip": chip.name, "runtime": chip.runtime.name,
        "model": workload.model.name, "phase": "serve",
        "scheduler": serving.scheduler.policy, "arrival": serving.arrival.kind,
        "request_rate": getattr(serving.arrival, "rate", None), "seed": serving.seed,
        "weights_dtype": scenario.weights, "activations_dtype": scenario.activations,
        "kv_cache_dtype": scenario.kv_cache, "parallel.tp": parallel.tp, "parallel.ep": parallel.ep,
        "instances": counts[0] + counts[1], "chips_used": (counts[0] + counts[1]) * parallel.model_copy(
            update={"dp": 1}).chips,
        "clock_hz": hz,
    } | figures | {
        "iterations": len(rows), "mean_batch": weighted / max(busy, 1),
        "engine_busy_share": busy / (span * len(result.instances)),
        "kv_blocks": layout.blocks, "kv_block_tokens": layout.block_size, "kv_block_bytes": layout.block_bytes,
        "kv_peak_share": max(i.pool.peak for i in result.instances) / layout.blocks,
        "kv_mean_share": kv_time / max(busy, 1) / layout.blocks,
        "memory_weights": layout.weights, "memory_activations": layout.workspace,
        "host_overhead_s": serving.scheduler.overhead, "host_overhead_per_sequence_s":
            serving.scheduler.overhead_per_sequence, "host_overhead_per_sequence_step_s":
            serving.scheduler.overhead_per_sequence_step, "host_frontend_share": serving.scheduler.frontend_share,
        "scheduler_steps": serving.scheduler.steps,
        "timing": serving.timing, "parts_timed": cost.timed, "parts_reused": cost.lookups - cost.timed,
    }
    summary["assumptions"] = [*workload_assumptions(chip, workload), *serving_assumptions(serving)]
    if clipped:
        summary["assumptions"].append(f"{clipped} drawn request(s) clipped to prompt + output ≤ the model's "
                                      f"{workload.model.max_positions} positions")
    summary["requests_clipped"] = clipped
    money, notes = serving_cost_figures(chip, summary, result.rows, counts[0] + counts[1])
    summary |= money
    summary["assumptions"] += notes
    spec = serving.speculative
    if spec is not None:
        summary |= {"speculative_draft": spec.draft, "speculative_tokens": spec.tokens,
                    "speculative_acceptance": spec.acceptance,
                    "tokens_per_decode_step": (spec.acceptance ** (spec.tokens + 1) - 1) / (spec.acceptance - 1)
                    if spec.acceptance < 1 else spec.tokens + 1.0}
    return summary
