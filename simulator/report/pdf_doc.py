"""The design-review document as a PDF: every page A4 landscape (pages.py lays it out), the title and the
executive summary on the first page, each section from a new page, pictures scaled onto the page."""

from collections.abc import Callable
from pathlib import Path

from simulator.report.blocks import Figure, Report, Table, draw_or_note, plain
from simulator.report.pages import GREY, PAGE_RC, SIZES, Pages


def render_pages(report: Report, emit: Callable) -> int:
    """Lay the report out; each finished page (a matplotlib Figure of PAGE size) goes to `emit`. Returns
    the page count."""
    pages = Pages(emit, running=plain(report.title))
    pages.new_page()
    pages.lines(plain(report.title), SIZES["title"], bold=True, space_after=0.4)
    for line in report.header:
        pages.lines(plain(line), SIZES["small"], color=GREY, space_after=0.1)
    pages.y -= 0.1
    for n, section in enumerate(report.sections):
        if n:
            pages.new_page()
        pages.heading(section.title, "h2")
        for block in section.blocks:
            if isinstance(block, tuple):
                pages.heading(plain(block[1]), "h3")
            elif isinstance(block, str):
                pages.lines(plain(block), SIZES["p"])
            elif isinstance(block, list):
                pages.bullets([plain(b) for b in block])
            elif isinstance(block, Table):
                pages.table(Table([plain(c) for c in block.columns], [[plain(str(v)) for v in r] for r in block.rows],
                                  plain(block.caption), block.numeric))
            elif isinstance(block, Figure):
                fig, note = draw_or_note(block)
                if fig is None:
                    pages.lines(plain(block.caption), SIZES["p"], space_after=0.1)
                    pages.lines(plain(note), SIZES["p"], color=GREY)
                else:  # the executive summary's picture stays on its page, shrunk to the room left
                    pages.picture(fig, plain(block.caption), min_share=0.3 if n == 0 else 0.85)
    pages.finish()
    return pages.number


def to_pdf(report: Report, out: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with plt.rc_context(PAGE_RC), PdfPages(out, metadata={"CreationDate": None, "Title": plain(report.title)}) as pdf:
        render_pages(report, pdf.savefig)
