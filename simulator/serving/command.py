"""`tortoise serve`: the flags that reshape a workload's `serving:` section, the run or the capacity
search, and what it prints and writes. The CLI loads the chip and the workload and hands them here."""

import json
import re
import sys
from pathlib import Path

from simulator.config.validation import validate
from simulator.errors import ConfigError
from simulator.results.output import json_safe
from simulator.workloads.serving import Serving

FLAGS = {  # flag → the serving field it sets
    "requests": "requests", "seed": "seed", "arrival": "arrival", "prompt": "prompt", "output": "output",
    "trace_file": "trace_file", "policy": "scheduler.policy",
}
_SLO = re.compile(r"^(ttft|tpot|e2e)(?:_p(\d+(?:\.\d+)?))?$")


def parse_slo(text: str) -> dict:
    """`ttft_p99=2s,tpot_p99=200ms` → {ttft: "2s", tpot: "200ms", percentile: 99}."""
    out, percentiles = {}, set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        match = _SLO.match(key.strip())
        if not sep or not match or not value.strip():
            raise ConfigError("--slo", key.strip() or part, part,
                              "comma-separated NAME=DURATION with NAME one of ttft, tpot, e2e and an optional "
                              "_pNN percentile (e.g. ttft_p99=2s,tpot_p99=200ms)")
        out[match[1]] = value.strip()
        if match[2]:
            percentiles.add(float(match[2]))
    if len(percentiles) > 1:
        raise ConfigError("--slo", "percentile", ", ".join(f"p{p:g}" for p in sorted(percentiles)),
                          "one percentile for all the limits of a run")
    if percentiles:
        out["percentile"] = percentiles.pop()
    return out


def serving_with_flags(serving: Serving, args) -> Serving:
    """The section with the command line's flags applied; a bad flag value is one line naming the flag."""
    data = serving.model_dump(mode="json", exclude_unset=True)  # what was given stays given (assumptions)
    provenance = {}
    for flag, field in FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        keys = tuple(field.split("."))
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
        provenance[keys] = f"--{flag.replace('_', '-')}"
    if getattr(args, "rate", None) is not None:
        arrival = data.get("arrival") or serving.arrival.model_dump(mode="json")
        data["arrival"] = ({"kind": "poisson", "rate": args.rate} if arrival["kind"] == "offline"
                           else arrival | {"rate": args.rate})
        provenance[("arrival",)] = "--rate"
    if getattr(args, "slo", None):
        data["slo"] = data.get("slo", {}) | parse_slo(args.slo)
        provenance[("slo",)] = "--slo"
    return validate(Serving, data, "--set", provenance)


def serve(args, chip, workload, progress=None) -> int:
    """Run (or search the capacity of) the service; print the summary; write --out and --trace."""
    from simulator.results.files import check_file, claim_folder
    from simulator.serving.capacity import find_capacity
    from simulator.serving.files import write_serve_outputs
    from simulator.serving.service import simulate_service
    from simulator.serving.text import serve_summary_text

    if workload.scenario.phase != "serve":
        raise ConfigError(workload.source, "scenario.phase", workload.scenario.phase,
                          "'serve' for tortoise serve (with a serving: section; see workloads/*_serve.yaml)")
    if args.out:
        claim_folder(Path(args.out), "serve")  # before the work: writable, and no other command's folder
    if args.trace:
        check_file(Path(args.trace), "--trace")
    serving = serving_with_flags(workload.serving or Serving(), args)
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    tables = {}
    if args.capacity:
        found = find_capacity(chip, workload, serving, progress=progress)
        result = found.best or found.offline
        summary = result.summary | found.summary
        import pandas as pd

        tables["probes"] = pd.DataFrame([{"rate": p.rate, "meets_slo": p.meets} | p.figures for p in found.probes])
        if not args.json:
            print(capacity_text(found, serving))
    else:
        result = simulate_service(chip, workload, serving, progress)
        summary = result.summary
    if args.json:
        print(json.dumps(json_safe(summary), indent=2, sort_keys=True, allow_nan=False))
    else:
        print(serve_summary_text(summary))
    if args.out:
        tables = {"requests": result.requests_table, "iterations": result.iterations_table} | tables
        for path in write_serve_outputs(Path(args.out), summary, tables, args.format):
            say(f"wrote {path}")
    if args.trace:
        from simulator.serving.trace import write_serve_trace

        path = write_serve_trace(result, Path(args.trace), serving.trace_iterations)
        say(f"wrote {path} (the first {serving.trace_iterations} iterations; open it in https://ui.perfetto.dev)")
    return 0


def capacity_text(found, serving: Serving) -> str:
    slo = serving.slo
    limits = ", ".join(f"{name} p{slo.percentile:g} ≤ {getattr(slo, name) * 1e3:g} ms"
                       for name in ("ttft", "tpot", "e2e") if getattr(slo, name) is not None)
    lines = [f"capacity search ({limits}): offline throughput {found.summary['offline_requests_per_s']:.2f} req/s"]
    for p in found.probes:
        shown = ", ".join(f"{k[:-2].replace('_', ' ')} {v * 1e3:.1f} ms" for k, v in p.figures.items()
                          if k.endswith("_s") and k != "output_tokens_per_s")
        shown += f"; {p.figures['output_tokens_per_s']:,.0f} output tokens/s"
        lines.append(f"  {p.rate:8.3f} req/s  {'meets' if p.meets else 'misses'}  ({shown})")
    if found.rate is None:
        lines.append(f"  no rate probed meets the SLOs (the lowest was {min(p.rate for p in found.probes):.3f} req/s)")
    else:
        lines.append(f"  highest rate meeting the SLOs: {found.rate:.3f} req/s (within "
                     f"{found.summary['capacity_tolerance']:.0%}); the run at that rate follows")
    return "\n".join(lines)
