"""The Python API, for notebooks and scripts (docs/api.md):

    import simulator as ts

    r = ts.run("h100", "llama3_8b_decode")          # a preset and a bundled workload, by name
    r.summary["tokens_per_s"], r.table, r.breakdown  # a dict, and pandas tables built on first read
    t = ts.run("dgx_h100", model="llama3_8b", phase="train", batch=64, seq=8192,
               set=["parallel.dp=8", "training.micro_batch=1"])
    points = ts.sweep("configs/sweeps/hbm_bandwidth.yaml", out="runs/hbm")  # the results table
    s = ts.serve("h100", "llama3_8b_serve", rate=12)   # a service under load: s.summary, s.requests, s.iterations

A front end like the command line (simulator/cli.py), reading its inputs the same way: hardware is a preset
name or a YAML file; a workload a YAML file or a bundled workload's name; a model a config.json or a bundled
model's name (or its fields, as a dict); `set` holds `--set` overrides ("path=value" strings, or a dict of
path → value), each routed to the hardware or the workload by its first key. Bad input raises the
TortoiseError (ConfigError, CapacityError, …) whose one line `tortoise` would print; nothing is written
unless asked (`Result.save`, `Result.trace`, the folder of `sweep`).
"""

import json
import tempfile
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from simulator.api import run_workload
from simulator.config.loader import load_chip
from simulator.config.schema import ChipConfig
from simulator.errors import TortoiseError
from simulator.hardware.chip import Chip
from simulator.ir.ops import OpGraph
from simulator.overrides import split_overrides
from simulator.progress import ProgressBar
from simulator.workloads.loader import LLMWorkload, load_llm, load_workload, resolve_model_path
from simulator.workloads.model import Model, load_model, model_from_mapping

if TYPE_CHECKING:
    import pandas as pd

SCENARIO_KEYS = ("phase", "batch", "prompt", "context", "output_tokens")  # the CLI's scenario flags


class Result:
    """One run: `summary` (the dict summary.json holds), its tables as pandas DataFrames built on first read
    (`table`: one row per op; `breakdown`: per op group; on a system `stages`, `links`, `timeline`; None where
    a run has no such table), `notes` (what the lowering approximated for this model) and `raw`, the session
    layer's own result (simulator/api.py: LLMResult or RunResult)."""

    def __init__(self, raw):
        self.raw = raw

    @property
    def summary(self) -> dict:
        return self.raw.summary

    @property
    def kind(self) -> str:
        """ops (an op list), inference, train, or serve."""
        workload = getattr(self.raw, "workload", None)
        if workload is None:
            return "ops"
        phase = workload.scenario.phase
        return phase if phase in ("train", "serve") else "inference"

    def _table(self, name: str) -> "pd.DataFrame | None":
        return getattr(self.raw, name, None)

    @property
    def table(self) -> "pd.DataFrame":
        return self._table("table")

    @property
    def breakdown(self) -> "pd.DataFrame | None":
        return self._table("breakdown")

    @property
    def stages(self) -> "pd.DataFrame | None":
        return self._table("stages")

    @property
    def links(self) -> "pd.DataFrame | None":
        return self._table("links")

    @property
    def timeline(self) -> "pd.DataFrame | None":
        return self._table("timeline")

    @property
    def requests(self) -> "pd.DataFrame | None":
        """Serving: one row per request (requests.csv)."""
        return self._table("requests_table")

    @property
    def iterations(self) -> "pd.DataFrame | None":
        """Serving: one row per scheduler call (iterations.csv)."""
        return self._table("iterations_table")

    @property
    def probes(self) -> "pd.DataFrame | None":
        """Serving with capacity=True: one row per rate the search ran."""
        return self._table("probes")

    @property
    def notes(self) -> tuple[str, ...]:
        workload = getattr(self.raw, "workload", None)
        return getattr(getattr(workload, "model", None), "notes", ())

    def text(self) -> str:
        """The summary `tortoise run` prints."""
        from simulator.results.output import llm_summary_text, summary_text, training_summary_text

        raw = self.raw
        if self.kind == "serve":
            from simulator.serving.text import serve_summary_text

            return serve_summary_text(raw.summary)
        if self.kind == "ops":
            return summary_text(raw.summary, raw.rows)
        show = training_summary_text if self.kind == "train" else llm_summary_text
        return show(raw.summary, raw.breakdown_rows, raw.stage_rows, raw.link_rows)

    def __repr__(self) -> str:
        return self.text()

    def save(self, folder: str | Path, format: str = "csv") -> list[Path]:
        """Write the folder `tortoise run --out FOLDER` (or `tortoise serve --out`) writes; the paths."""
        from simulator.results.output import write_outputs

        if format not in ("csv", "parquet"):
            raise TortoiseError(f"save: format = {format!r}: must be 'csv' or 'parquet'")
        if self.kind == "serve":
            from simulator.serving.files import write_serve_outputs

            tables = {"requests": self.requests, "iterations": self.iterations}
            if self.probes is not None:
                tables["probes"] = self.probes
            return write_serve_outputs(Path(folder), self.summary, tables, format)
        extra = {name: self._table(name) for name in ("breakdown", "stages", "links", "timeline")}
        return write_outputs(Path(folder), self.summary, self.table, format,
                             {name: t for name, t in extra.items() if t is not None})

    def trace(self, path: str | Path) -> Path:
        """Write the Perfetto trace `tortoise run --trace FILE` (or `tortoise serve --trace`) writes; its path."""
        from simulator.results.trace import write_trace

        if self.kind == "serve":
            from simulator.serving.trace import write_serve_trace

            raw = getattr(self.raw, "found", None)
            run = (raw.best or raw.offline) if raw is not None else self.raw
            return write_serve_trace(run, Path(path), run.workload.serving.trace_iterations)

        return write_trace(self.raw, Path(path))


def run(hardware: str | Path | ChipConfig | Chip, workload: str | Path | LLMWorkload | OpGraph | None = None, *,
        model: str | Path | dict | None = None, phase: str | None = None, batch: int | None = None,
        prompt: int | None = None, context: int | None = None, output_tokens: int | None = None,
        seq: int | None = None, set: list[str] | dict | tuple = (), progress: bool = False) -> Result:
    """Simulate a workload (a file, a bundled name, or a loaded one) or a model with a scenario on the
    hardware, as `tortoise run` does. `phase`, `batch`, `prompt`, `context`, `output_tokens` and `seq` are
    the CLI's `--phase` … `--seq` and go with `model`; a workload file's scenario changes with
    `set=["scenario.batch=8"]`. `progress` draws the CLI's progress bar."""
    hardware_sets, workload_sets = split_overrides(_override_list(set))
    chip = _chip(hardware, hardware_sets)
    flags = _flags(phase, batch, prompt, context, output_tokens)
    loaded = _workload(workload, model, flags, seq, workload_sets)
    bar = ProgressBar("simulating passes", minimum=8) if progress else nullcontext()
    with bar as shown:
        return Result(run_workload(chip, loaded, shown))


def load(workload: str | Path | None = None, *, model: str | Path | dict | None = None, phase: str | None = None,
         batch: int | None = None, prompt: int | None = None, context: int | None = None,
         output_tokens: int | None = None, seq: int | None = None,
         set: list[str] | dict | tuple = ()) -> LLMWorkload | OpGraph:
    """The workload `run` would simulate, loaded and checked but not run (its `.model`, `.scenario`, …)."""
    flags = _flags(phase, batch, prompt, context, output_tokens)
    hardware_sets, workload_sets = split_overrides(_override_list(set))
    if hardware_sets:
        raise TortoiseError(f"load: set={hardware_sets!r} changes hardware fields, which a workload does not have; "
                            "give them to run()")
    return _workload(workload, model, flags, seq, workload_sets)


def model(spec: str | Path | dict) -> Model:
    """A model by bundled name, config.json path, or fields: `ts.model("llama3_8b").params()`."""
    if isinstance(spec, dict):
        return model_from_mapping(spec, "model (fields)", "model")
    return load_model(resolve_model_path(str(spec), Path.cwd(), f"model({str(spec)!r})"))


def sweep(file: str | Path, out: str | Path | None = None, *, workers: int | None = None,
          scheduler: str | None = None) -> "pd.DataFrame":
    """Run a sweep file as `tortoise sweep FILE --out OUT` does (resumable in OUT; every core unless
    `workers`; a dask.distributed cluster with `scheduler`) and return its results table, one row per point
    and workload. Without `out` the folder is a temporary one, removed afterwards."""
    import pandas as pd

    from simulator.sweep.command import sweep_command

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise TortoiseError(f"sweep: workers = {workers!r}: must be a whole number ≥ 1")
    with tempfile.TemporaryDirectory(prefix="tortoise-sweep-") if out is None else nullcontext(out) as folder:
        folder = Path(folder)
        args = SimpleNamespace(sweep_file=str(file), out=str(folder), scheduler=scheduler, workers=workers,
                               dry_run=False)
        code = sweep_command(args)
        if code == 130:
            raise KeyboardInterrupt
        return pd.read_parquet(folder / "results.parquet")


def serve(hardware: str | Path | ChipConfig | Chip, workload: str | Path | LLMWorkload | None = None, *,
          model: str | Path | dict | None = None, set: list[str] | dict | tuple = (), rate: float | None = None,
          requests: int | None = None, arrival: str | None = None, prompt: str | int | None = None,
          output: str | int | None = None, seed: int | None = None, policy: str | None = None,
          trace_file: str | Path | None = None, slo: str | None = None, capacity: bool = False) -> Result:
    """Serve a load as `tortoise serve` does (docs/serving.md): a serving workload (file, bundled name, or
    loaded), or `model=` with the default `serving:` section. The keywords are the CLI's flags (`rate=20`,
    `prompt="lognormal:1000,0.9"`, `slo="ttft_p99=2s,tpot_p99=200ms"`, …). The result's tables are
    `requests` and `iterations`; with `capacity=True` its summary also has `capacity_requests_per_s`, and
    `probes` the search's runs."""
    from simulator.serving.command import serving_with_flags
    from simulator.serving.service import simulate_service
    from simulator.workloads.serving import Serving

    hardware_sets, workload_sets = split_overrides(_override_list(set))
    chip = _chip(hardware, hardware_sets)
    chip = chip if isinstance(chip, Chip) else Chip(chip)
    if model is not None:
        if workload is not None:
            raise TortoiseError(f"serve: give a workload ({workload}) or model= ({model}), not both")
        label = "fields" if isinstance(model, dict) else Path(str(model)).stem
        data = {"name": f"{label}_serve", "model": model if isinstance(model, dict) else str(model),
                "scenario": {"phase": "serve"}}
        loaded = load_llm(data, "serve(model=…)", Path.cwd(), workload_sets)
    else:
        loaded = _workload(workload, None, {}, None, workload_sets)
    if not isinstance(loaded, LLMWorkload) or loaded.scenario.phase != "serve":
        raise TortoiseError("serve: the workload needs scenario.phase: serve and a serving: section "
                            "(e.g. llama3_8b_serve)")
    flags = SimpleNamespace(rate=rate, requests=requests, arrival=arrival, prompt=prompt, output=output, seed=seed,
                            policy=policy, trace_file=None if trace_file is None else str(trace_file), slo=slo)
    serving = serving_with_flags(loaded.serving or Serving(), flags)
    if not capacity:
        return Result(simulate_service(chip, loaded, serving))
    from simulator.serving.capacity import find_capacity

    found = find_capacity(chip, loaded, serving)
    return Result(_Searched(found))


class _Searched:
    """A capacity search seen as a serving result: the run at the rate found (or the offline run), its summary
    with the search's figures, and the probes as a table."""

    def __init__(self, found):
        self.found = found
        run = found.best or found.offline
        self.workload, self.requests_table, self.iterations_table = run.workload, run.requests_table, \
            run.iterations_table
        self.summary = run.summary | found.summary

    @property
    def probes(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame([{"rate": p.rate, "meets_slo": p.meets} | p.figures for p in self.found.probes])



def _flags(*values) -> dict:
    """The scenario keywords that were given, by their scenario field."""
    return {key: value for key, value in zip(SCENARIO_KEYS, values, strict=True) if value is not None}


def _override_list(given) -> list[str]:
    """`set` as the CLI's PATH=VALUE strings: a dict's values are written as JSON, which the override reader
    (YAML) reads back as the same value."""
    if isinstance(given, str):
        return [given]
    if isinstance(given, dict):
        return [f"{path}={json.dumps(value)}" for path, value in given.items()]
    items = list(given)
    bad = next((item for item in items if not isinstance(item, str)), None)
    if bad is not None:
        raise TortoiseError(f"set: {bad!r}: each override is a 'path=value' string (or pass a dict)")
    return items


def _chip(hardware, overrides: list[str]) -> Chip | ChipConfig:
    if isinstance(hardware, Chip | ChipConfig):
        if overrides:
            raise TortoiseError(f"run: set={overrides!r} changes hardware fields; give the hardware as a preset "
                                "name or file for that (a loaded chip is used as it is)")
        return hardware
    return load_chip(str(hardware), overrides)


def _workload(workload, model, flags: dict, seq: int | None, overrides: list[str]):
    """The workload object, file or bundled name; or a model with the CLI's scenario flags."""
    if model is None:
        if workload is None:
            raise TortoiseError("run: give a workload (a file or a bundled name), or model=… with phase=, batch=, …")
        given = [*flags] + (["seq"] if seq is not None else [])
        if given:
            first = "training.sequence" if given[0] == "seq" else f"scenario.{given[0]}"
            raise TortoiseError(f"run: {', '.join(given)} {'goes' if len(given) == 1 else 'go'} with model=…; to "
                                f"change a workload's scenario use set=['{first}=…']")
        if isinstance(workload, LLMWorkload | OpGraph):
            if overrides:
                raise TortoiseError(f"run: set={overrides!r} changes workload fields; give the workload as a file "
                                    "or bundled name for that (a loaded workload is used as it is)")
            return workload
        return load_workload(str(workload), overrides)
    if workload is not None:
        raise TortoiseError(f"run: give a workload ({workload}) or model= ({model}), not both")
    label = "fields" if isinstance(model, dict) else Path(str(model)).stem
    data = {"name": f"{label}_{flags.get('phase', 'decode')}", "model": model if isinstance(model, dict)
            else str(model), "scenario": flags}
    if seq is not None:
        if flags.get("phase") != "train":
            raise TortoiseError(f"run: seq={seq} is a training step's sequence length; it goes with phase='train' "
                                "(an inference prompt is prompt=)")
        data["training"] = {"sequence": seq}
    shown = "fields" if isinstance(model, dict) else repr(str(model))
    return load_llm(data, f"run(model={shown})", Path.cwd(), overrides)
