"""`tortoise serve --out DIR`: summary.json, requests.csv and iterations.csv (or .parquet), written whole or
not at all (results/files.py); a serve folder owns its files like a run folder does."""

import json
from pathlib import Path

from simulator.errors import TortoiseError
from simulator.results.files import clean_temps, folder_kind, make_folder, reason, write_all
from simulator.results.output import json_safe

SERVE_TABLES = ("requests", "iterations", "probes")
SERVE_FILES = frozenset({"summary.json"} | {f"{t}.{fmt}" for t in SERVE_TABLES for fmt in ("csv", "parquet")})


def write_serve_outputs(out: Path, summary: dict, tables: dict, fmt: str = "csv") -> list[Path]:
    """`tables`: stem → DataFrame. The summary is written last; files of an earlier serve run that this one
    does not write are removed, so a reader never mixes two runs."""
    out = Path(out)
    earlier = folder_kind(out) == "serve"
    make_folder(out, "--out")
    text = json.dumps(json_safe(summary), indent=2, sort_keys=True, allow_nan=False) + "\n"
    writes = {}
    for stem, table in tables.items():
        writes[out / f"{stem}.{fmt}"] = ((lambda t: lambda p: t.to_parquet(p, index=False))(table) if fmt == "parquet"
                                        else (lambda t: lambda p: t.to_csv(p, index=False))(table))
    writes[out / "summary.json"] = lambda p: p.write_text(text, encoding="utf-8")
    try:
        clean_temps(out, SERVE_FILES)
        paths = write_all(writes)
        if earlier:
            for name in sorted(SERVE_FILES - {p.name for p in paths}):
                (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise TortoiseError(f"--out {out}: cannot write there ({reason(exc)})") from None
    return paths
