"""Laying text, tables and pictures onto fixed pages (A4 landscape) as matplotlib figures, one figure per
page, so that every page of the PDF has the same size and nothing is drawn outside the margins. Text is
measured with the font matplotlib ships (deterministic on every machine) and wrapped to fit; a table too
wide for the page wraps its cells, then splits into column groups that repeat the first column; a picture
is scaled down to the space there is."""

import io
from collections.abc import Callable
from functools import lru_cache

import matplotlib.pyplot as plt
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.textpath import text_to_path

from simulator.report.blocks import Table, numeric_columns
from simulator.report.style import RC

PAGE = (11.69, 8.27)  # A4 landscape, inches
MARGIN = 0.6  # inches on every side
FOOTER = 0.45  # inches from the bottom: the top of the running footer, below the margin
WIDTH = PAGE[0] - 2 * MARGIN
SIZES = {"title": 17.0, "h2": 14.0, "h3": 11.5, "p": 9.5, "small": 8.0, "caption": 8.5, "table": 8.0,
         "running": 7.0}
LEADING = 1.32  # line height over font size
GREY = "#555555"
FIGURE_DPI = 200  # pictures are drawn at this resolution, then scaled onto the page
TABLE_SIZES = (8.0, 7.0, 6.5)
PAD = 9.0  # points between table columns
# Pages are drawn unhinted, so that a raster of a page (Agg) has the widths the layout measured and the PDF has
PAGE_RC = {**RC, "text.hinting": "no_hinting"}


@lru_cache(maxsize=20000)
def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width of one line of text in points, from the font's own unhinted metrics (as the PDF draws it; the
    Agg renderer's hinted widths are off by a few per cent at small sizes), with 2 % to spare."""
    if not text:
        return 0.0
    prop = FontProperties(family=RC.get("font.family", "sans-serif"), size=size, weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return width * 1.02 + 0.5


def wrap(text: str, width_pt: float, size: float, bold: bool = False) -> list[str]:
    """Greedy word wrap to a width in points; a word too long for a line is cut where it must be."""
    lines: list[str] = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size, bold) <= width_pt + 1e-6:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width(word, size, bold) > width_pt + 1e-6 and len(word) > 1:
                cut = 1
                while cut < len(word) and text_width(word[:cut + 1], size, bold) <= width_pt:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


class Pages:
    """A cursor over fixed-size pages; each finished page is handed to `emit` (PdfPages.savefig, or a
    test's check) and closed."""

    def __init__(self, emit: Callable, running: str = ""):
        self.emit, self.running, self.number = emit, running, 0
        self.fig = None
        self.y = 0.0  # inches from the bottom of the page: where the next block starts
        self.pending: list[tuple[str, str]] = []  # headings waiting for the block they head

    # ---------------------------------------------------------------- pages

    @property
    def top(self) -> float:
        return PAGE[1] - MARGIN

    @property
    def room(self) -> float:
        """Inches left on this page above the bottom margin."""
        return self.y - MARGIN if self.fig is not None else self.top - MARGIN

    def new_page(self) -> None:
        self.finish()
        with plt.rc_context(PAGE_RC):
            self.fig = plt.figure(figsize=PAGE)
        self.number += 1
        self.y = self.top
        foot = f"{self.running} — page {self.number}" if self.running else f"page {self.number}"
        self._text(PAGE[0] - MARGIN, FOOTER, foot, SIZES["running"], ha="right", color=GREY)

    def finish(self) -> None:
        if self.pending:
            self.start(0.0)
        if self.fig is not None:
            self.emit(self.fig)
            plt.close(self.fig)
            self.fig = None

    def need(self, height: float) -> None:
        """Start a new page unless `height` inches fit on this one."""
        if self.fig is None or height > self.room + 1e-9:
            self.new_page()

    def start(self, height: float) -> None:
        """Begin a block whose first `height` inches must sit on one page with the headings before it (a
        heading is never the last thing on a page)."""
        pending, self.pending = self.pending, []
        above = sum(self._heading_height(text, level) for text, level in pending)
        self.need(above + height)
        for text, level in pending:
            self._draw_heading(text, level)

    def _text(self, x: float, y: float, text: str, size: float, bold: bool = False, ha: str = "left",
              color: str = "#222222", mono: bool = False) -> None:
        self.fig.text(x / PAGE[0], y / PAGE[1], text, fontsize=size, ha=ha, va="top", color=color,
                      weight="bold" if bold else "normal", family="monospace" if mono else None, parse_math=False)

    def _rule(self, x0: float, x1: float, y: float, width: float = 0.6, color: str = "#444444") -> None:
        self.fig.add_artist(Line2D([x0 / PAGE[0], x1 / PAGE[0]], [y / PAGE[1]] * 2, lw=width, color=color,
                                   transform=self.fig.transFigure))

    # ---------------------------------------------------------------- text

    def lines(self, text: str, size: float, bold: bool = False, indent: float = 0.0, color: str = "#222222",
              space_after: float = 0.5, bullet: str = "") -> None:
        """A wrapped paragraph (`bullet` hangs in the indent)."""
        line_h = size * LEADING / 72
        wrapped = wrap(text, (WIDTH - indent) * 72, size, bold)
        self.start(line_h * (len(wrapped) if len(wrapped) <= 6 else 2))  # short paragraphs stay whole
        for i, line in enumerate(wrapped):
            self.need(line_h)
            if bullet and i == 0:
                self._text(MARGIN + indent - 0.16, self.y, bullet, size, bold, color=color)
            self._text(MARGIN + indent, self.y, line, size, bold, color=color)
            self.y -= line_h
        self.y -= space_after * line_h

    def heading(self, text: str, level: str) -> None:
        """Drawn with the block that follows it, on that block's page."""
        self.pending.append((text, level))

    def _heading_height(self, text: str, level: str) -> float:
        size = SIZES[level]
        n = len(wrap(text, WIDTH * 72, size, True))
        return 0.35 * size / 72 + (n + 0.25) * size * LEADING / 72 + (0.08 if level == "h2" else 0)

    def _draw_heading(self, text: str, level: str) -> None:
        size = SIZES[level]
        if self.y < self.top - 1e-9:
            self.y -= 0.35 * size / 72
        line_h = size * LEADING / 72
        for line in wrap(text, WIDTH * 72, size, True):
            self._text(MARGIN, self.y, line, size, bold=True)
            self.y -= line_h
        self.y -= 0.25 * line_h
        if level == "h2":
            self._rule(MARGIN, PAGE[0] - MARGIN, self.y + 0.03, 0.8, "#999999")
            self.y -= 0.08

    def bullets(self, items: list[str], size: float = SIZES["p"]) -> None:
        for item in items:
            self.lines(item, size, indent=0.22, space_after=0.15, bullet="•")
        self.y -= 0.3 * size * LEADING / 72

    # ---------------------------------------------------------------- tables

    def table(self, table: Table) -> None:
        size, groups = _fit(table)
        numeric = numeric_columns(table)
        for n, columns in enumerate(groups):
            caption = table.caption + (f" (columns {n + 1} of {len(groups)})" if len(groups) > 1 else "")
            self._table_part(table, columns, numeric, size, caption)

    def _table_part(self, table: Table, columns: list[tuple[int, float]], numeric, size: float,
                    caption: str) -> None:
        line_h = size * LEADING / 72
        header = [wrap(table.columns[i], w * 72 - PAD, size, True) for i, w in columns]
        header_h = max(len(h) for h in header) * line_h + 0.06
        rows = [[wrap(str(row[i]), w * 72 - PAD, size) for i, w in columns] for row in table.rows]
        first_row_h = (max(len(c) for c in rows[0]) if rows else 1) * line_h
        cap_h = len(wrap(caption, WIDTH * 72, SIZES["caption"])) * SIZES["caption"] * LEADING / 72 if caption else 0
        whole = cap_h + header_h + sum(max(len(c) for c in cells) * line_h + 0.02 for cells in rows) + 0.1
        # a table that fits a page is kept whole; a longer one starts with its header and a row at least
        self.start(whole if whole <= self.top - MARGIN - 1.0 else cap_h + header_h + first_row_h + 0.1)
        if caption:
            self.lines(caption, SIZES["caption"], color=GREY, space_after=0.2)
        self._header(header, columns, numeric, size, header_h)
        for r, cells in enumerate(rows):
            row_h = max(len(c) for c in cells) * line_h + 0.02
            if row_h > self.room:
                self._rule(MARGIN, MARGIN + sum(w for _, w in columns), self.y + 0.01)
                self.new_page()
                self.lines((caption or "table") + " (continued)", SIZES["caption"], color=GREY, space_after=0.2)
                self._header(header, columns, numeric, size, header_h)
            if r % 2:
                self.fig.add_artist(Rectangle((MARGIN / PAGE[0], (self.y - row_h + 0.01) / PAGE[1]),
                                              sum(w for _, w in columns) / PAGE[0], row_h / PAGE[1],
                                              transform=self.fig.transFigure, color="#f1f3f5", lw=0, zorder=-1))
            self._cells(cells, columns, numeric, size, bold=False)
            self.y -= row_h
        self._rule(MARGIN, MARGIN + sum(w for _, w in columns), self.y + 0.01, 0.9)
        self.y -= 0.18

    def _header(self, header, columns, numeric, size, height) -> None:
        x1 = MARGIN + sum(w for _, w in columns)
        self._rule(MARGIN, x1, self.y + 0.02, 0.9)
        self.y -= 0.03
        self._cells(header, columns, numeric, size, bold=True)
        self.y -= height - 0.03
        self._rule(MARGIN, x1, self.y + 0.02, 0.6)
        self.y -= 0.02

    def _cells(self, cells, columns, numeric, size, bold) -> None:
        line_h = size * LEADING / 72
        x = MARGIN
        for lines, (i, w) in zip(cells, columns, strict=True):
            right = numeric[i]
            for k, text in enumerate(lines):
                self._text(x + w - PAD / 144 if right else x + PAD / 144, self.y - k * line_h, text, size, bold,
                           ha="right" if right else "left")
            x += w

    # ---------------------------------------------------------------- pictures

    def picture(self, fig, caption: str, min_share: float = 0.55, max_height: float | None = None) -> None:
        """The figure as an image scaled to the page width at most, with its caption under it: here if it
        fits (at `min_share` of its full size or more), else on a new page."""
        import matplotlib.image as mpimg

        buffer = io.BytesIO()
        with plt.rc_context(RC):
            fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", pad_inches=0.08)
        plt.close(fig)
        buffer.seek(0)
        image = mpimg.imread(buffer, format="png")
        h_px, w_px = image.shape[:2]
        cap_lines = wrap(caption, WIDTH * 72, SIZES["caption"]) if caption else []
        cap_h = len(cap_lines) * SIZES["caption"] * LEADING / 72 + 0.12
        full_h = PAGE[1] - 2 * MARGIN - cap_h - 0.1
        scale = min(1.0, WIDTH / (w_px / FIGURE_DPI), min(full_h, max_height or full_h) / (h_px / FIGURE_DPI))
        w, h = w_px / FIGURE_DPI * scale, h_px / FIGURE_DPI * scale
        self.start(h * min_share + cap_h)
        if self.room - cap_h < h:  # shrink into what is left
            w, h = w * (self.room - cap_h) / h, self.room - cap_h
        ax = self.fig.add_axes([(PAGE[0] - w) / 2 / PAGE[0], (self.y - h) / PAGE[1], w / PAGE[0], h / PAGE[1]])
        ax.imshow(image, interpolation="none")
        ax.set_axis_off()
        self.y -= h + 0.06
        for line in cap_lines:
            self._text(PAGE[0] / 2, self.y, line, SIZES["caption"], ha="center", color=GREY)
            self.y -= SIZES["caption"] * LEADING / 72
        self.y -= 0.2


def _header_width(text: str, size: float) -> float:
    """A heading may take two lines: the width of its longest word, or of its longer half."""
    words = text.split(" ")
    halves = max((max(text_width(" ".join(words[:k]), size, True), text_width(" ".join(words[k:]), size, True))
                  for k in range(1, len(words))), default=text_width(text, size, True))
    return max(max(text_width(w, size, True) for w in words), halves)


def _fit(table: Table) -> tuple[float, list[list[tuple[int, float]]]]:
    """The font size and the column groups (column index, width in inches) that fit the page width: the
    natural widths at the largest size that fits; else cells wrap (never narrower than their longest word
    or 0.45 in); else the columns split into groups, each repeating the first column."""
    n = len(table.columns)
    for size in TABLE_SIZES:
        natural = [max([_header_width(table.columns[i], size)]
                       + [text_width(str(r[i]), size) for r in table.rows]) + PAD for i in range(n)]
        if sum(natural) <= WIDTH * 72:
            return size, [[(i, w / 72) for i, w in enumerate(natural)]]
    size = TABLE_SIZES[-1]
    longest = [max(text_width(word, size, True) for word in [*table.columns[i].split(" "), *(
        w for r in table.rows for w in str(r[i]).split(" "))]) + PAD for i in range(n)]
    least = [min(max(lo, 0.45 * 72), nat, WIDTH * 72 / 2) for lo, nat in zip(longest, natural, strict=True)]
    groups, current = [], [0]
    for i in range(1, n):
        if sum(least[j] for j in current) + least[i] > WIDTH * 72:
            groups.append(current)
            current = [0, i]
        else:
            current.append(i)
    groups.append(current)
    out = []
    for group in groups:
        lo, hi = [least[i] for i in group], [natural[i] for i in group]
        spare, want = WIDTH * 72 - sum(lo), sum(h - m for h, m in zip(hi, lo, strict=True))
        share = min(1.0, spare / want) if want > 0 else 0.0
        out.append([(i, (m + (h - m) * share) / 72) for i, m, h in zip(group, lo, hi, strict=True)])
    return size, out
