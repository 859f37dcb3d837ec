"""Text that comes from the data (class names, file paths, reasons) made inert in Markdown.

A class is named after a folder, and a folder can be called ``<img src=x onerror=...>``:
written as is into report.md or model_card.md, any Markdown viewer that renders inline
HTML (GitHub, IDE previews, static-site generators) would run it. Every data-derived string
the two Markdown files embed goes through :func:`md_text`: HTML's ``& < >`` become
entities (shown as the characters, never parsed as tags), and the characters that would
open a link or a code span or end a table cell are backslash-escaped.
"""

from __future__ import annotations

_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "[": "\\[",
    "]": "\\]",
    "`": "\\`",
    "|": "\\|",
}


def md_text(value: object) -> str:
    """``value`` as literal Markdown text on one line (one table cell, one list item)."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return "".join(_ESCAPES.get(char, char) for char in text)
