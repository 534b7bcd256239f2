"""Run SCALE-Sim 3.0.0 on one GEMM, as a peer to check Tortoise's closed forms against.

SCALE-Sim pins numpy (==2.3.5; it breaks on 2.4), so it usually lives in its own virtualenv. This
module therefore imports only the standard library: `run_scalesim` re-runs this same file under the
interpreter that has SCALE-Sim (`python`, else $TORTOISE_SCALESIM_PYTHON, else sys.executable),
which writes the config, topology and layout files into a temporary directory, runs the Python API
with save_disk_space=True (the command line writes ~1 KB of trace per simulated cycle), and hands
the report items back as JSON.

The run is made stall-free so that the numbers are SCALE-Sim's compute model alone: each SRAM holds
a whole operand in its active half (the buffers are split 50/50), and all three USER-mode bandwidths
([layout] Ifmap/FilterSRAMBankBandwidth feed ifmap/filter; [architecture_presets] Bandwidth only
drains ofmap) are set far above what the array can consume.
"""

import json
import os
import subprocess
import sys
import tempfile

DATAFLOW_NAMES = {0: "os", 1: "ws", 2: "is", "os": "os", "ws": "ws", "is": "is"}


def _interpreter(python):
    return python or os.environ.get("TORTOISE_SCALESIM_PYTHON") or sys.executable


def scalesim_available(python=None):
    """True if the chosen interpreter can import scalesim (checked in a subprocess, never here)."""
    try:
        proc = subprocess.run([_interpreter(python), "-c", "import scalesim.scale_sim"],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def run_scalesim(m, n, k, rows, cols, dataflow, python=None, workdir=None):
    """SCALE-Sim's report for C[m×n] = A[m×k]·B[k×n] on a rows×cols array, dataflow 'os'/'ws'/'is' or 0/1/2.

    Returns a dict; each value comes from SCALE-Sim's per-layer report items:
      total_cycles      get_compute_report_items()[1]  (its "Total cycles", stalls included)
      stall_cycles      get_compute_report_items()[2]  ("Stall cycles"; 0 when the setup works)
      compute_cycles    total_cycles - stall_cycles    (what Tortoise's scalesim_compute_cycles models)
      ifmap_sram_reads  get_detail_report_items()[2]   (A, m×k, element reads)
      filter_sram_reads get_detail_report_items()[5]   (B, k×n)
      ofmap_sram_writes get_detail_report_items()[8]   (C, m×n; os adds rows + cols per fold)
      wall_s            seconds spent in run_scale() and the report, timed inside the subprocess
    `workdir` is where the temporary directory goes (default: the system's); it is removed after.
    """
    args = {"m": int(m), "n": int(n), "k": int(k), "rows": int(rows), "cols": int(cols),
            "dataflow": DATAFLOW_NAMES[dataflow]}
    with tempfile.TemporaryDirectory(prefix="scalesim_", dir=workdir) as tmp:
        args["dir"] = tmp
        proc = subprocess.run([_interpreter(python), os.path.abspath(__file__), json.dumps(args)],
                              capture_output=True, text=True, cwd=tmp)
        result_path = os.path.join(tmp, "result.json")
        if proc.returncode != 0 or not os.path.exists(result_path):
            raise RuntimeError(f"SCALE-Sim failed (rc={proc.returncode}) for {args}:\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        with open(result_path) as f:
            return json.load(f)


def _write_inputs(a):
    """Write config, GEMM topology and header-only layout files; return their paths."""
    import configparser

    m, n, k, rows, cols, tmp = a["m"], a["n"], a["k"], a["rows"], a["cols"], a["dir"]
    # kB so that the active half of each double buffer holds the whole operand.
    sram_kb = {"ifmap": m * k, "filter": k * n, "ofmap": m * n}
    sram_kb = {key: 2 * (-(-elems // 1024)) + 2 for key, elems in sram_kb.items()}
    bw = 4 * (rows + cols) * max(rows, cols)  # elements per cycle, far above any demand
    cfg = configparser.ConfigParser()
    cfg.optionxform = str  # keep key case as SCALE-Sim spells it
    cfg["general"] = {"run_name": "peer"}
    cfg["architecture_presets"] = {
        "ArrayHeight": rows, "ArrayWidth": cols,
        "ifmapsramszkB": sram_kb["ifmap"], "filtersramszkB": sram_kb["filter"],
        "ofmapsramszkB": sram_kb["ofmap"],
        "IfmapOffset": 0, "FilterOffset": 10_000_000, "OfmapOffset": 20_000_000,
        "Bandwidth": bw, "Dataflow": a["dataflow"],
        "ReadRequestBuffer": 32, "WriteRequestBuffer": 32,
    }
    cfg["layout"] = {
        "IfmapCustomLayout": False, "IfmapSRAMBankBandwidth": bw,
        "IfmapSRAMBankNum": 1, "IfmapSRAMBankPort": 2,
        "FilterCustomLayout": False, "FilterSRAMBankBandwidth": bw,
        "FilterSRAMBankNum": 1, "FilterSRAMBankPort": 2,
    }
    cfg["sparsity"] = {"SparsitySupport": "false"}
    cfg["run_presets"] = {"InterfaceBandwidth": "USER", "UseRamulatorTrace": "False"}
    paths = {name: os.path.join(tmp, name) for name in ("peer.cfg", "gemm.csv", "layout.csv")}
    with open(paths["peer.cfg"], "w") as f:
        cfg.write(f)
    with open(paths["gemm.csv"], "w") as f:
        f.write("Layer, M, N, K,\n")
        f.write(f"gemm, {m}, {n}, {k},\n")  # SCALE-Sim drops the field after the last comma
    with open(paths["layout.csv"], "w") as f:
        f.write("Layer,\n")  # no custom layouts: a header-only file is accepted
    return paths["peer.cfg"], paths["gemm.csv"], paths["layout.csv"]


def _child(a):
    """Runs inside the SCALE-Sim interpreter: simulate, then write result.json."""
    import contextlib
    import io
    import time

    from scalesim.scale_sim import scalesim

    config, topology, layout = _write_inputs(a)
    out = os.path.join(a["dir"], "out")
    os.makedirs(out)
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=config, topology=topology,
                       layout=layout, input_type_gemm=True)
        start = time.perf_counter()
        sim.run_scale(top_path=out)
        layer = sim.runner.single_layer_sim_object_list[0]
        compute = layer.get_compute_report_items()
        detail = layer.get_detail_report_items()
        wall = time.perf_counter() - start
    total, stall = int(compute[1]), int(compute[2])
    result = {"compute_cycles": total - stall, "total_cycles": total, "stall_cycles": stall,
              "ifmap_sram_reads": int(detail[2]), "filter_sram_reads": int(detail[5]),
              "ofmap_sram_writes": int(detail[8]), "wall_s": wall}
    with open(os.path.join(a["dir"], "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
