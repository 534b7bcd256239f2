"""The design-review document as one self-contained HTML file: inline style, pictures as inline base64
PNG, no scripts and nothing fetched from elsewhere."""

import base64
import html
import io

from simulator.report.blocks import Figure, Report, Table, draw_or_note, numeric_columns, plain
from simulator.report.style import RC

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f2f2f2;border-bottom:2px solid #999}td.n,th.n{text-align:right}
tbody tr:nth-child(even){background:#f8f9fa}caption{caption-side:top;text-align:left;color:#555;font-size:13px;
padding:.2em 0}img{max-width:100%}figure{margin:1.2em 0}figcaption{color:#555;font-size:13px}.header{color:#555}
h2{border-bottom:2px solid #ddd}"""


def _table(block: Table) -> str:
    esc = html.escape
    numeric = numeric_columns(block)
    cls = [' class="n"' if n and i else "" for i, n in enumerate(numeric)]
    head = "".join(f"<th{c}>{esc(plain(col))}</th>" for col, c in zip(block.columns, cls, strict=True))
    body = "".join("<tr>" + "".join(f"<td{c}>{esc(plain(str(v)))}</td>" for v, c in zip(row, cls, strict=True))
                   + "</tr>" for row in block.rows)
    caption = f"<caption>{esc(plain(block.caption))}</caption>" if block.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(block: Figure) -> str:
    esc = html.escape
    fig, note = draw_or_note(block)
    if fig is None:
        return f"<p><em>{esc(note)}</em></p>"
    data = base64.b64encode(png(fig)).decode()
    caption = esc(plain(block.caption))
    return (f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def to_html(report: Report) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(report.title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{esc(report.title)}</h1>"]
    parts += [f'<p class="header">{esc(plain(line))}</p>' for line in report.header]
    parts.append("<nav><ol>" + "".join(f'<li><a href="#s{i}">{esc(s.title)}</a></li>'
                                       for i, s in enumerate(report.sections)) + "</ol></nav>")
    for i, section in enumerate(report.sections):
        parts.append(f'<section id="s{i}"><h2>{esc(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, tuple):
                parts.append(f"<h3>{esc(plain(block[1]))}</h3>")
            elif isinstance(block, str):
                parts.append(f"<p>{esc(plain(block))}</p>")
            elif isinstance(block, list):
                parts.append("<ul>" + "".join(f"<li>{esc(plain(b))}</li>" for b in block) + "</ul>")
            elif isinstance(block, Table):
                parts.append(_table(block))
            elif isinstance(block, Figure):
                parts.append(_figure(block))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with plt.rc_context(RC):
        fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
