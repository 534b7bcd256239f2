"""`tortoise report`: every section is there for run, sweep and compare folders, in HTML (self-contained)
and PDF, and the same folders give the same bytes."""

import re

import pytest

from simulator.cli import main
from simulator.report.document import SECTIONS, Figure, Table, build_report, doc_bullets
from simulator.report.folders import load_folder


@pytest.fixture(scope="module")
def all_folders(run_folder, sweep_folder, compare_folder):
    return [run_folder, sweep_folder, compare_folder]


def test_report_has_every_section_with_content(all_folders):
    report = build_report([load_folder(p) for p in all_folders])
    assert [s.title for s in report.sections] == list(SECTIONS)
    by = {s.title: s.blocks for s in report.sections}
    # one subsection per folder in the first three sections
    for name in ("Executive summary", "Configurations", "Key metrics", "Plots"):
        assert [b[1] for b in by[name] if isinstance(b, tuple)] == ["run tp2", "sweep mxu", "compare tpu_vs_gpu"]
    # hardware tables: one column per design, one row per property
    designs = [t for t in by["Configurations"] if isinstance(t, Table) and t.rows and t.rows[0][0] == "cores"]
    assert [t.columns[1:] for t in designs] == [["h100"], ["tpu_v4", "h100"]]  # sweep base, then compare by chip
    tpu = {r[0]: r[1] for r in designs[1].rows}
    assert tpu["MXU rows × cols × count"] == "128 × 128 × 4" and tpu["cores"] == "2"  # TPU v4: 2 × 4 MXUs
    kinds = [f.caption for f in by["Plots"] if isinstance(f, Figure)]
    assert len(kinds) >= 4 + 1 + 1  # run: roofline, breakdown, timeline, energy; sweep: a line; bars
    assert sum(isinstance(b, Figure) for b in by["Executive summary"]) == 1  # the one picture
    headings = [b[1] for b in by["Assumptions"] if isinstance(b, tuple)]
    assert "Layer scaling" in headings and "Version" in headings
    assert any(isinstance(b, list) and b for b in by["Assumptions"])  # bullets from docs/


def test_html_is_self_contained_and_complete(all_folders, tmp_path, capsys):
    out = tmp_path / "review.html"
    assert main(["report", *map(str, all_folders), "--out", str(out), "--title", "Review X"]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    text = out.read_text()
    assert "<h1>Review X</h1>" in text
    for name in SECTIONS:
        assert f"<h2>{name}</h2>" in text
    images = re.findall(r'<img[^>]+src="([^"]+)"', text)
    assert len(images) >= 7 and all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r'(src|href)="(http|//|file:)', text) and "<script" not in text
    assert "tokens/s" in text and "energy per token (mJ)" in text  # metric labels with units
    assert "2 row(s) failed" in text  # the sweep's SRAM-starved point, once per workload


def test_pdf_has_text_and_figure_pages_and_is_deterministic(sweep_folder, compare_folder, tmp_path):
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    for out in (a, b):
        assert main(["report", str(sweep_folder), str(compare_folder), "--out", str(out)]) == 0
    data = a.read_bytes()
    assert data.startswith(b"%PDF-") and data == b.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    figures = sum(isinstance(x, Figure) for s in build_report([load_folder(sweep_folder),
                                                                load_folder(compare_folder)]).sections
                  for x in s.blocks)
    assert pages >= figures + 1


def test_bad_report_suffix_is_one_line(run_folder, capsys):
    assert main(["report", str(run_folder), "--out", "review.docx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "use .pdf or .html" in err


def test_doc_bullets_take_first_sentences(tmp_path):
    doc = tmp_path / "d.md"
    doc.write_text("# A\n- not this.\n## What is approximated\n- **Bold lead:** first part. Second.\n"
                   "  continued line.\n- Another [link](x.md) one\n## Next\n- no.\n")
    assert doc_bullets(doc, "approximated") == ["Bold lead: first part.", "Another link one."]
