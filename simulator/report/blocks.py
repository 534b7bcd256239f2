"""What a design-review document is made of, before it is written as HTML or PDF: sections of headings,
paragraphs, bullet lists, tables and figures. All text is plain (no Markdown): both writers print it as
it is."""

import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] | None = None  # per column: right-aligned numbers; None: guessed from the cells


@dataclass
class Figure:
    caption: str
    make: Callable  # () -> matplotlib Figure; drawn when the document is written
    key: tuple = ()  # (kind, request): the same picture has the same key


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)  # str (a paragraph), list[str] (bullets), Table, Figure, ("h", text)


@dataclass
class Report:
    title: str
    header: list[str]
    sections: list[Section]


def plain(text: str) -> str:
    """Markdown made plain: [text](link) → text, **bold** and `code` marks dropped."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", str(text))
    return text.replace("**", "").replace("`", "")


NUMBER = re.compile(r"[-+]?[\d,]*\.?\d+(e[-+]?\d+)?( ?(×|%|[a-zA-Zµ/]+(/s)?))?")


def numberlike(value) -> bool:
    """`1,234`, `3.2 TB/s`, `0.43×`, `15 %`: a cell to right-align."""
    return bool(NUMBER.fullmatch(str(value).strip()))


def numeric_columns(table: Table) -> list[bool]:
    if table.numeric is not None:
        return table.numeric
    out = []
    for i in range(len(table.columns)):
        cells = [str(r[i]).strip() for r in table.rows if str(r[i]).strip() not in ("", "—")]
        out.append(bool(cells) and all(numberlike(c) for c in cells))
    return out


def draw_or_note(block: Figure):
    """The block's figure, or the one-line reason it cannot be drawn from this folder."""
    from simulator.errors import TortoiseError

    try:
        return block.make(), None
    except TortoiseError as exc:
        return None, f"Not drawn: {exc}"
