"""The report as one self-contained HTML page (images embedded) and as Markdown (images
linked relative to the dataset's results folder)."""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

import pandas as pd

from mobileclf.markdown import md_text
from mobileclf.report.blocks import Callout, Figure, Section, Table, formatted

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;
margin:24px auto;
padding:0 16px;color:#1d2329;line-height:1.45}
h1{font-size:26px;margin-bottom:4px}
h2{font-size:20px;border-bottom:2px solid #dde3ea;padding-bottom:4px;
margin-top:36px}
table{border-collapse:collapse;margin:8px 0 18px;font-size:13px}
.caption{font-weight:600;padding:4px 0;color:#33414e;font-size:14px;margin-top:14px}
th,td{border:1px solid #ccd5de;padding:3px 8px;text-align:left;vertical-align:top}
.num{text-align:right}.wrap{overflow-x:auto;max-width:100%}th{background:#eef2f6}
tr:nth-child(even) td{background:#f8fafc}
figure{margin:10px 0 20px}figure img{max-width:100%;border:1px solid #dde3ea}
figcaption{font-size:13px;color:#4a5866}
.callout{padding:12px 16px;border-radius:6px;font-size:16px;font-weight:600;margin:12px 0}
.good{background:#e3f5e8;border-left:6px solid #2e8b57}
.bad{background:#fdecea;border-left:6px solid #c0392b}
nav a{margin-right:10px;font-size:13px}
"""


def _html_table(table: Table) -> str:
    numeric = [pd.api.types.is_numeric_dtype(table.frame[c]) for c in table.frame.columns]
    head = "".join(
        f"<th{' class=num' if n else ''}>{html.escape(str(c))}</th>"
        for c, n in zip(table.frame.columns, numeric, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if n else ''}>{html.escape(v)}</td>"
            for v, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in formatted(table)
    )
    # the caption sits above the table, not in <caption>: a caption cannot be wider than
    # its table, and narrow tables would wrap it into a column of words
    return (
        f'<div class="caption">{html.escape(table.caption)}</div><div class="wrap">'
        f'<table id="table-{table.key}" data-table="{table.key}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _html_block(block) -> str:
    if isinstance(block, Table):
        return _html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(block.path.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
        )
    if isinstance(block, Callout):
        css = "good" if block.good else "bad"
        return f'<div class="callout {css}">{html.escape(block.text)}</div>'
    return block if block.startswith("<") else f"<p>{block}</p>"


def render_html(title: str, headline: Callout, sections: list[Section]) -> str:
    nav = "".join(f'<a href="#{s.key}">{html.escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta "
        f"charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p>Produced by the mobileclf workflow. Answer first, evidence below.</p>",
        _html_block(headline),
        f"<nav>{nav}</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>')
        parts.extend(_html_block(b) for b in section.blocks)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _markdown_table(table: Table) -> str:
    columns = [md_text(c) for c in table.frame.columns]
    lines = [
        f"**{md_text(table.caption)}**",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines += ["| " + " | ".join(md_text(v) for v in row) + " |" for row in formatted(table)]
    return "\n".join(lines) + "\n"


def _strip_tags(text: str) -> str:
    text = re.sub(r"<li>", "- ", text)
    text = re.sub(r"</li>", "\n", text)
    return re.sub(r"<[^>]+>", "", text)


def render_markdown(title: str, headline: Callout, sections: list[Section], base: Path) -> str:
    parts = [f"# {md_text(title)}", "", f"> **{md_text(headline.text)}**", ""]
    for section in sections:
        parts += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                parts.append(_markdown_table(block))
            elif isinstance(block, Figure):
                link = Path(os.path.relpath(block.path, base)).as_posix()
                parts += [f"![{md_text(block.caption)}]({link})", ""]
            elif isinstance(block, Callout):
                parts += [f"> **{md_text(block.text)}**", ""]
            else:
                parts += [_strip_tags(block), ""]
    return "\n".join(parts) + "\n"
