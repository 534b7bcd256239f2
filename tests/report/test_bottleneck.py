"""The bottleneck comes from where the time went, not from the ops' roofline class: a run that waits 35 %
of its time on the network is communication-bound, whatever its ops' FLOP/byte floors say."""

import json
import shutil

import pytest

from simulator.report.blocks import Table
from simulator.report.bottleneck import bound, bound_sentence, time_split
from simulator.report.document import build_report
from simulator.report.folders import load_folder

DGX_70B = {"compute_share": 0.151, "memory_stall_share": 0.339, "exposed_comm_share": 0.349,
           "overhead_share": 0.161, "idle_share": 0.0, "roofline_bound": "memory"}


def test_system_shares_name_communication():
    split = time_split(DGX_70B)
    assert split == {"compute": 0.151, "memory stall": 0.339, "exposed communication": 0.349,
                     "per-op overhead": 0.161}
    assert bound(split) == "communication / memory"  # within 5 points: both named, the larger first
    assert bound_sentence(split).startswith("communication / memory (exposed communication 34.9 % of the time, "
                                            "memory stall 33.9 %")


def test_one_chip_from_cycles():
    split = time_split({"cycles": 100, "compute_cycles": 70, "stall_cycles": 20, "overhead_cycles": 10})
    assert split == pytest.approx({"compute": 0.7, "memory stall": 0.2, "per-op overhead": 0.1})
    assert bound(split) == "compute"
    assert bound({"compute": 0.2, "memory stall": 0.2}) == "compute / memory"  # a tie: sweep order, stable
    assert time_split({"seconds": 1.0}) == {} and bound({}) == ""


def test_report_says_communication_where_the_summary_says_memory(run_folder, tmp_path):
    folder = tmp_path / "comm"
    shutil.copytree(run_folder, folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(DGX_70B)
    (folder / "summary.json").write_text(json.dumps(summary))
    report = build_report([load_folder(folder)])
    by = {s.title: s.blocks for s in report.sections}
    table = next(b for b in by["Key metrics"] if isinstance(b, Table))
    rows = dict((r[0], r[1]) for r in table.rows)
    assert rows["bottleneck (from the time split)"] == "communication / memory"
    assert rows["bound by the ops' roofline floors"] == "memory"  # kept, and named for what it is
    summary_text = " ".join(" ".join(b) for b in by["Executive summary"] if isinstance(b, list))
    assert "Bottleneck: communication / memory (exposed communication 34.9 %" in summary_text
