"""Every page of the PDF report, rendered to PNG before it goes into the PDF: one page size (A4
landscape) throughout, every text and picture inside the margins, no two texts on top of each other, no
literal Markdown; the PDF itself has that one page size on every page; tables are real tables. Where
pypdfium2 is installed (the test extras), the written PDF is rasterized too and its margins checked."""

import io
import re

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import AxesImage

from simulator.cli import main
from simulator.report.blocks import Table
from simulator.report.document import build_report
from simulator.report.folders import load_folder
from simulator.report.pages import MARGIN, PAGE, PAGE_RC, Pages
from simulator.report.pdf_doc import render_pages

DPI = 50
EDGE = 0.25  # inches at the page's edge where nothing is drawn


def _boxes(fig):
    """(text, box in inches) of every non-empty text, and the boxes of the pictures, on a drawn page."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    texts = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(lambda a: hasattr(a, "get_text"))
             if a_visible(t) and t.get_text().strip()]
    images = [a.get_window_extent(renderer) for a in fig.findobj(AxesImage)]
    scale = 1 / fig.dpi
    return [(s, np.array([b.x0, b.y0, b.x1, b.y1]) * scale) for s, b in texts], \
        [np.array([b.x0, b.y0, b.x1, b.y1]) * scale for b in images]


def a_visible(artist) -> bool:
    return artist.get_visible() and artist.figure is not None


def check_page(fig) -> dict:
    """Asserts one page's facts; returns what it found (for the callers' own checks)."""
    with plt.rc_context(PAGE_RC):  # as the PDF writer draws its pages
        return _check_page(fig)


def _check_page(fig) -> dict:
    assert tuple(fig.get_size_inches()) == pytest.approx(PAGE)
    texts, images = _boxes(fig)
    inner = (MARGIN - 0.02, EDGE + 0.05, PAGE[0] - MARGIN + 0.02, PAGE[1] - MARGIN + 0.02)
    for text, (x0, y0, x1, y1) in texts:
        assert inner[0] <= x0 and x1 <= inner[2] and inner[1] <= y0 and y1 <= inner[3], (text, (x0, y0, x1, y1))
        assert not re.search(r"\*\*|`|\]\(|^#", text), text  # no literal Markdown
    for x0, y0, x1, y1 in images:
        assert MARGIN - 0.01 <= x0 and x1 <= PAGE[0] - MARGIN + 0.01 and MARGIN - 0.01 <= y0 and \
            y1 <= PAGE[1] - MARGIN + 0.01
    boxes = np.array([b for _, b in texts]).reshape(-1, 4)
    shrink = 0.01  # glyph boxes of neighbouring lines may touch
    a, b = boxes[:, None, :], boxes[None, :, :]
    overlap = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]) > shrink) & \
              (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]) > shrink)
    np.fill_diagonal(overlap, False)
    pairs = [(texts[i][0], texts[j][0]) for i, j in zip(*np.nonzero(overlap), strict=True) if i < j]
    assert not pairs, pairs[:3]
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI)  # the page as a picture, as the PDF will hold it
    pixels = mpimg.imread(io.BytesIO(png.getvalue()), format="png")
    assert pixels.shape[:2] == (int(PAGE[1] * DPI), int(PAGE[0] * DPI))
    edge = round(EDGE * DPI)
    border = np.concatenate([pixels[:edge].reshape(-1, pixels.shape[2]), pixels[-edge:].reshape(-1, pixels.shape[2]),
                             pixels[:, :edge].reshape(-1, pixels.shape[2]),
                             pixels[:, -edge:].reshape(-1, pixels.shape[2])])
    assert border[:, :3].min() > 0.99  # nothing reaches the edge of the page
    return {"texts": [t for t, _ in texts], "images": len(images)}


@pytest.fixture(scope="module")
def pages(run_folder, sweep_folder, compare_folder):
    report = build_report([load_folder(p) for p in (run_folder, sweep_folder, compare_folder)], "Review")
    found = []
    count = render_pages(report, lambda fig: found.append(check_page(fig)))
    assert count == len(found)
    return found


def test_every_page_is_a4_landscape_with_everything_inside(pages):
    assert len(pages) >= 8
    assert all(p["texts"] for p in pages)


def test_first_page_is_the_executive_summary_with_its_picture(pages):
    first = pages[0]
    assert first["texts"][:2] == ["Review", "page 1"] or "Review" in first["texts"]
    assert "Executive summary" in first["texts"] and first["images"] == 1
    assert any(t.startswith("Bottleneck: communication") or "Bottleneck:" in t for t in first["texts"])


def test_tables_are_tables_not_column_value_blocks(pages):
    texts = [t for p in pages for t in p["texts"]]
    assert not any(re.fullmatch(r"[\w .()/%-]+: .+", t) and t.split(":")[0] in ("tokens/s", "MFU (%)", "workload")
                   for t in texts)
    assert texts.count("tokens/s") >= 2  # a column heading, once per table that has it


@pytest.fixture(scope="module")
def written(run_folder, sweep_folder, compare_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf") / "r.pdf"
    assert main(["report", str(run_folder), str(sweep_folder), str(compare_folder), "--out", str(out)]) == 0
    return out


def test_written_pdf_has_one_page_size(written):
    data = written.read_bytes()
    boxes = set(re.findall(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data))
    assert len(boxes) == 1
    w, h = (float(v) for v in boxes.pop().split()[2:])
    assert (w, h) == pytest.approx((PAGE[0] * 72, PAGE[1] * 72), abs=0.5)


def test_written_pdf_rasterized(written):
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(written))
    try:
        assert len(pdf) >= 8
        for i in range(len(pdf)):
            page = pdf[i]
            assert page.get_size() == pytest.approx((PAGE[0] * 72, PAGE[1] * 72), abs=0.5)
            pixels = np.asarray(page.render(scale=DPI / 72).to_pil().convert("L"), float) / 255
            edge = round(EDGE * DPI)
            assert min(pixels[:edge].min(), pixels[-edge:].min(), pixels[:, :edge].min(),
                       pixels[:, -edge:].min()) > 0.99, f"page {i + 1} draws into its edge"
            assert pixels.min() < 0.5  # and it does draw something
    finally:
        pdf.close()


def test_wide_table_splits_into_column_groups_that_repeat_the_first_column():
    columns = ["design"] + [f"a rather long column heading number {i}" for i in range(30)]
    table = Table(columns, [[f"row{r}"] + [f"{r * i:,}" for i in range(30)] for r in range(5)], "wide")
    found = []
    layout = Pages(lambda fig: found.append(check_page(fig)))
    layout.table(table)
    layout.finish()
    texts = [t for p in found for t in p["texts"]]
    groups = [t for t in texts if t.startswith("wide (columns")]
    assert len(groups) >= 2 and groups[-1].endswith(f"of {len(groups)})")
    assert texts.count("row3") == len(groups)  # the first column in every group
    for i in range(30):  # every value is there, whole
        assert f"{3 * i:,}" in texts


def test_long_table_continues_with_its_header(tmp_path):
    table = Table(["n", "value (ms)"], [[str(i), f"{i / 7:.4g}"] for i in range(200)], "long")
    found = []
    layout = Pages(lambda fig: found.append(check_page(fig)))
    layout.table(table)
    layout.finish()
    assert len(found) >= 3
    for page in found:
        assert "value" in page["texts"] and "(ms)" in page["texts"]  # the heading, wrapped on two lines
    assert all("long (continued)" in p["texts"] for p in found[1:])
    assert sum(t.isdigit() for p in found for t in p["texts"] if t != "1") >= 199


def test_serve_and_load_sweep_folders_report_on_the_same_pages(serve_folder, load_sweep_folder):
    report = build_report([load_folder(serve_folder), load_folder(load_sweep_folder)])
    by = {s.title: s.blocks for s in report.sections}
    summary = by["Executive summary"]
    assert summary[-1].key == ("cdf",)  # the first folder's picture: the latency distributions
    said = " ".join(" ".join(b) for b in summary if isinstance(b, list))
    assert "continuous batching, 40 requests" in said and "TTFT p50" in said and "SLO attainment" in said
    assert "offered load 2 to 200 req/s (3 points)" in said
    plots = [b.key for b in by["Plots"] if hasattr(b, "key")]
    assert ("engine",) in plots and ("load",) in plots
    found = []
    render_pages(report, lambda fig: found.append(check_page(fig)))
    assert found[0]["images"] == 1 and len(found) >= 5
