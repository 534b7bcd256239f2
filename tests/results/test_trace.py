"""The Perfetto/Chrome trace: valid events, every op copy once, tracks that nest, and per-track sums that
equal the run's own totals (cycles, HBM bytes, link bytes)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from simulator.api import run_files
from simulator.results.timeline import expand_copies
from simulator.results.trace import build_trace, write_trace

ROOT = Path(__file__).resolve().parents[2]
DECODE = str(ROOT / "workloads/llama3_8b_decode.yaml")
TWO_LAYERS = ["model.num_hidden_layers=2"]


@pytest.fixture(scope="module")
def decode():
    return run_files("h100", DECODE, [], TWO_LAYERS)


@pytest.fixture(scope="module")
def tp8():
    return run_files("dgx_h100", DECODE, [], TWO_LAYERS + ["parallel.tp=8"])


@pytest.fixture(scope="module")
def pipeline():
    return run_files("dgx_h100", DECODE, [], ["model.num_hidden_layers=3", "parallel.tp=4", "parallel.pp=2",
                                              "parallel.microbatches=2", "scenario.batch=4"])


def threads(trace) -> dict[tuple[int, int], str]:
    return {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "thread_name"}


def slices(trace, track: str) -> list[dict]:
    """'X' events on tracks whose name starts with `track` (every lane)."""
    names = threads(trace)
    return [e for e in trace["traceEvents"] if e["ph"] == "X" and names[(e["pid"], e["tid"])].startswith(track)]


def ns(x: float) -> int:
    return round(x * 1000)


def test_events_are_valid_chrome_trace_json(decode, tmp_path):
    path = write_trace(decode, tmp_path / "sub" / "run.json")
    trace = json.loads(path.read_text())
    assert trace["displayTimeUnit"] == "ns"
    meta = trace["metadata"]
    assert (meta["chip"], meta["workload"], meta["clock_hz"]) == ("h100", "llama3_8b_decode", decode.chip.clock_hz)
    assert meta["truncated"] is False and meta["op_copies"] == meta["op_copies_shown"] == decode.summary["ops"]
    kinds = Counter(e["ph"] for e in trace["traceEvents"])
    assert set(kinds) == {"M", "X"}
    for e in trace["traceEvents"]:
        assert {"ph", "pid", "tid", "name", "args"} <= set(e)
        if e["ph"] == "X":
            assert isinstance(e["ts"], float) and e["dur"] >= 0 and isinstance(e["cat"], str)
        else:
            assert e["name"] in ("process_name", "process_sort_index", "thread_name", "thread_sort_index")
    named = {e["pid"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    assert {e["pid"] for e in trace["traceEvents"]} == named  # every process is named …
    assert {(e["pid"], e["tid"]) for e in trace["traceEvents"] if e["ph"] == "X"} <= set(threads(trace))  # … and thread


def test_every_op_copy_is_on_a_core_track_exactly_once(decode):
    trace = build_trace(decode)
    seen = Counter((e["name"], e["args"]["pass"], e["args"]["copy"]) for e in slices(trace, "cores"))
    copies = expand_copies(decode.table)
    expected = Counter(zip(copies["name"], copies["pass"], copies["copy"], strict=True))
    assert seen == expected and sum(seen.values()) == decode.table["repeat"].sum() == decode.summary["ops"]


def no_partial_overlap(events) -> None:
    """On one track, a slice starting inside another must end inside it too (Chrome's nesting rule)."""
    by_track: dict = {}
    for e in events:
        by_track.setdefault((e["pid"], e["tid"]), []).append((ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])))
    for spans in by_track.values():
        open_ = []
        for a, b in sorted(spans, key=lambda s: (s[0], -s[1])):
            while open_ and open_[-1] <= a:
                open_.pop()
            assert not open_ or b <= open_[-1], (a, b, open_)
            open_.append(b)


def test_tracks_nest_even_when_ops_overlap(tmp_path):
    # Two independent one-tile GEMMs (one core each) run side by side: they must land on two lanes.
    wl = tmp_path / "two.yaml"
    wl.write_text("name: two\nops:\n"
                  "  - {name: a, type: gemm, m: 32, n: 32, k: 4096, dtype: bf16}\n"
                  "  - {name: b, type: gemm, m: 32, n: 32, k: 4096, dtype: bf16, after: []}\n"
                  "  - {name: c, type: vector, kind: add, elements: 4096, after: [a, b]}\n")
    result = run_files("systolic_32x32", str(wl), ["cores=4"])
    t = result.table.set_index("name")
    assert t.loc["b", "start"] < t.loc["a", "end"]  # they overlap in time
    trace = build_trace(result)
    lanes = {e["name"]: e["tid"] for e in slices(trace, "cores")}
    assert lanes["a"] != lanes["b"] and lanes["c"] == min(lanes["a"], lanes["b"])  # lane 0 is free again for c
    no_partial_overlap([e for e in trace["traceEvents"] if e["ph"] == "X"])
    assert sorted(e["args"]["cores"] for e in slices(trace, "cores")) == sorted(result.table["cores"])


def test_no_track_has_partial_overlaps(decode, pipeline):
    for result in (decode, pipeline):
        no_partial_overlap([e for e in build_trace(result)["traceEvents"] if e["ph"] == "X"])


def test_gemm_time_on_core_tracks_is_the_tables_gemm_cycles(decode):
    trace = build_trace(decode)
    gemms = [e for e in slices(trace, "cores") if e["args"]["type"] == "gemm"]
    t = decode.table[decode.table["type"] == "gemm"]
    total = int((t["cycles"] * t["repeat"]).sum())
    assert sum(e["args"]["cycles"] for e in gemms) == total
    clock = decode.chip.clock_hz
    # Each end is rounded to a whole ns: a slice's length is off by < 1 ns.
    assert sum(e["dur"] for e in gemms) * 1e-6 * clock == pytest.approx(total, abs=len(gemms) * 1e-9 * clock)


def test_memory_tracks_carry_the_tables_bytes(decode):
    trace = build_trace(decode)
    t, s = decode.table, decode.summary
    hbm = sum(e["args"]["hbm_read"] + e["args"]["hbm_write"] for e in slices(trace, "HBM"))
    assert hbm == ((t["hbm_read"] + t["hbm_write"]) * t["repeat"]).sum() == s["bytes_hbm_read"] + s["bytes_hbm_write"]
    assert sum(e["args"]["l2_read"] for e in slices(trace, "L2")) == s["bytes_l2_read"]
    assert sum(e["args"]["sram_read"] + e["args"]["sram_write"] for e in slices(trace, "SRAM")) == (
        s["bytes_sram_read"] + s["bytes_sram_write"])
    dma = slices(trace, "DMA")
    assert sum(e["args"]["bytes_in"] for e in dma) == s["bytes_hbm_read"]
    assert sum(e["args"]["bytes_out"] for e in dma) == s["bytes_hbm_write"]
    for e in slices(trace, "HBM"):  # achieved bandwidth = bytes / the op's time
        seconds = (e["args"]["hbm_read"] + e["args"]["hbm_write"]) / e["args"]["gb_s"] / 1e9
        assert seconds == pytest.approx(e["dur"] * 1e-6, rel=1e-3)


def test_link_tracks_carry_every_link_byte_of_the_run(tp8):
    trace = build_trace(tp8)
    on_links = slices(trace, "link ")
    assert on_links and sum(e["args"]["bytes"] for e in on_links) == pytest.approx(tp8.summary["link_bytes"], rel=1e-9)
    per_link = Counter()
    for e in on_links:
        per_link[e["args"]["link"]] += e["args"]["bytes"]
    assert per_link == pytest.approx(dict(zip(tp8.links["link"], tp8.links["bytes"], strict=True)), rel=1e-9)
    comm = slices(trace, "communication")  # every collective copy once, beside the cores
    t = tp8.table[tp8.table["type"] == "collective"]
    assert len(comm) == t["repeat"].sum() > 0
    assert trace["metadata"]["link_bytes_shown"] == pytest.approx(tp8.summary["link_bytes"])


def test_pipeline_draws_every_micro_batch_and_send(pipeline):
    trace = build_trace(pipeline)
    assert sum(e["args"]["bytes"] for e in slices(trace, "link ")) == pytest.approx(
        pipeline.summary["link_bytes"], rel=1e-9)
    work = slices(trace, "cores") + slices(trace, "communication")
    assert len(work) == pipeline.table["repeat"].sum() * 2  # two micro-batches
    names = {e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"}
    assert {"stage 0 (chips 0–3)", "stage 1 (chips 4–7)"} <= names
    spans = slices(trace, "pipeline")  # each stage's compute per micro-batch, where the timeline has it
    t = pipeline.timeline[pipeline.timeline["kind"] == "compute"]
    drawn = sorted((e["args"]["start_cycle"], e["args"]["end_cycle"]) for e in spans)
    assert drawn == sorted(zip(t["start"], t["end"], strict=True))
    for e in work:  # micro-batch 1's ops sit inside its stage's micro-batch 1 span
        span = next(s for s in spans if s["args"]["stage"] == e["args"]["stage"]
                    and s["args"]["microbatch"] == e["args"]["microbatch"])
        assert span["args"]["start_cycle"] <= e["args"]["start_cycle"] <= e["args"]["end_cycle"] <= span["args"][
            "end_cycle"]


def test_timestamps_follow_the_tables_start_cycles(decode):
    trace = build_trace(decode)
    clock = decode.chip.clock_hz
    core = slices(trace, "cores")
    assert [e["args"]["start_cycle"] for e in core] == sorted(expand_copies(decode.table)["start"])
    for e in core:
        assert ns(e["ts"]) == round(e["args"]["start_cycle"] * 1e9 / clock)
        assert ns(e["ts"] + e["dur"]) == pytest.approx(round(e["args"]["end_cycle"] * 1e9 / clock), abs=1)
        assert e["args"]["end_cycle"] - e["args"]["start_cycle"] == e["args"]["cycles"]


def test_same_run_gives_the_same_file(tmp_path):
    a = write_trace(run_files("h100", DECODE, [], TWO_LAYERS), tmp_path / "a.json")
    b = write_trace(run_files("h100", DECODE, [], TWO_LAYERS), tmp_path / "b.json")
    assert a.read_bytes() == b.read_bytes()


def test_cap_cuts_at_the_end_of_time_and_says_so(decode, tmp_path, capsys):
    write_trace(decode, tmp_path / "cut.json", max_ops=10)
    trace = json.loads((tmp_path / "cut.json").read_text())
    meta = trace["metadata"]
    assert meta["truncated"] is True and meta["op_copies_shown"] == 10 and meta["op_copies"] == decode.summary["ops"]
    assert "10" in meta["note"] and "first 10 of" in capsys.readouterr().err
    core = slices(trace, "cores")
    assert [e["args"]["start_cycle"] for e in core] == sorted(expand_copies(decode.table)["start"])[:10]


def test_hand_written_op_lists_trace_too():
    result = run_files("h100", str(ROOT / "workloads/gemm_demo.yaml"))
    trace = build_trace(result)
    core = slices(trace, "cores")
    assert [e["name"] for e in core] == list(result.table.sort_values("start", kind="stable")["name"])
    assert trace["metadata"]["workload"] == "gemm_demo" and not slices(trace, "link ")


def test_a_training_step_draws_forwards_backwards_and_the_optimizer_on_tracks_of_their_own():
    train = run_files("dgx_h100", str(ROOT / "workloads/llama3_8b_train.yaml"), [],
                      ["model.num_hidden_layers=2", "parallel.pp=2", "parallel.dp=4", "training.global_batch=16",
                       "training.sequence=512", "training.zero=1"])
    trace = build_trace(train)
    spans = slices(trace, "pipeline")
    tracks = {threads(trace)[(e["pid"], e["tid"])].split(" · ")[0] for e in spans}
    assert tracks == {"pipeline forward", "pipeline backward", "pipeline optimizer"}
    for e in spans:
        assert threads(trace)[(e["pid"], e["tid"])].startswith(f"pipeline {e['args']['part']}")
    per_stage = Counter((e["args"]["stage"], e["args"]["part"]) for e in spans)
    micro = 16 // 4  # global batch / dp, one sequence per micro-batch
    assert all(per_stage[(s, p)] == micro for s in (0, 1) for p in ("forward", "backward"))
    assert all(per_stage[(s, "optimizer")] == 1 for s in (0, 1))
