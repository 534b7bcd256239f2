"""`tortoise serve --out DIR`: summary.json, requests.csv and iterations.csv (or .parquet; probes after a
capacity search), written whole or not at all, owned by the serve command like a run folder by `run`
(results/output.py write_folder)."""

from pathlib import Path

from simulator.results.output import write_folder

SERVE_TABLES = ("requests", "iterations", "probes")
SERVE_FILES = frozenset({"summary.json"} | {f"{t}.{fmt}" for t in SERVE_TABLES for fmt in ("csv", "parquet")})


def write_serve_outputs(out: Path, summary: dict, tables: dict, fmt: str = "csv") -> list[Path]:
    """`tables`: stem → DataFrame; the paths, the summary last."""
    return write_folder(out, summary, tables, fmt, SERVE_FILES, "serve")
