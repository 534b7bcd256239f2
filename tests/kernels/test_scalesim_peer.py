"""Cross-check the systolic closed forms against SCALE-Sim 3.0.0 itself.

Skipped unless the interpreter named by $TORTOISE_SCALESIM_PYTHON (else this one) can import
scalesim; it usually lives in its own virtualenv because it pins numpy 2.3.5.
"""

import importlib.util
from pathlib import Path

import pytest

from simulator.kernels.systolic import DATAFLOWS, mapped_dims, scalesim_compute_cycles, sram_accesses

_PEER_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "scalesim_peer.py"
_spec = importlib.util.spec_from_file_location("scalesim_peer", _PEER_PATH)
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)

if not peer.scalesim_available():
    pytest.skip("SCALE-Sim not importable by $TORTOISE_SCALESIM_PYTHON or the current interpreter",
                allow_module_level=True)

# (m, n, k, rows, cols, dataflow): every dataflow on a square and a non-square array, ragged folds.
CASES = [
    (16, 16, 16, 8, 8, "os"),
    (20, 36, 12, 8, 16, "os"),
    (20, 36, 12, 16, 8, "ws"),
    (13, 7, 29, 8, 8, "ws"),
    (20, 36, 12, 8, 16, "is"),
    (33, 17, 9, 16, 8, "is"),
]


@pytest.mark.parametrize("m,n,k,rows,cols,df", CASES)
def test_matches_scalesim(m, n, k, rows, cols, df):
    got = peer.run_scalesim(m, n, k, rows, cols, df)
    flow = DATAFLOWS[df]
    assert got["stall_cycles"] == 0  # the peer's setup must leave only the compute model
    assert scalesim_compute_cycles(m, n, k, rows, cols, flow) == got["compute_cycles"]

    a_reads, b_reads, _, c_writes = sram_accesses(m, n, k, rows, cols, flow)
    assert a_reads == got["ifmap_sram_reads"]
    assert b_reads == got["filter_sram_reads"]
    # ws/is count one write per partial sum per K-fold, as we do; os adds rows + cols per fold.
    sr, sc, _ = mapped_dims(m, n, k, flow)
    folds = -(-sr // rows) * -(-sc // cols)
    extra = folds * (rows + cols) if df == "os" else 0
    assert c_writes + extra == got["ofmap_sram_writes"]
