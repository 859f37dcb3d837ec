"""results/index.html: every dataset's verdict, linked to its report (the report_index
stage)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from mobileclf import atomic
from mobileclf.report.render import CSS


def _outcome(verdict: dict) -> str:
    """' (inconclusive)' when the intervals could not decide: 'no' is then not a no."""
    return " (inconclusive)" if verdict.get("outcome") == "inconclusive" else ""


def render_index(verdicts: list[dict], reports: list[str]) -> str:
    """One page for a multi-dataset run: each dataset's verdict and a link to its report."""
    rows = []
    for verdict, link in zip(verdicts, reports, strict=True):
        css = "good" if verdict.get("deployable") else "bad"
        rows.append(
            f'<tr><td><a href="{html.escape(link)}">{html.escape(verdict["dataset"])}</a></td>'
            f'<td class="{css}">{"yes" if verdict.get("deployable") else "no"}'
            f"{_outcome(verdict)}</td>"
            f"<td>{html.escape(str(verdict.get('recommended_variant') or ''))}</td>"
            f"<td>{html.escape(verdict.get('summary', ''))}</td></tr>"
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>mobileclf "
        "results</title>"
        f"<style>{CSS}</style></head><body><h1>mobileclf: all datasets</h1>"
        "<div class='caption'>Verdict per dataset</div>"
        "<table id='table-index'><thead><tr><th>dataset</th>"
        "<th>deployable</th><th>variant</th><th>summary</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>"
    )


def report_index(args) -> None:
    """``args`` are scripts/report_index.py's flags: --verdicts, --reports, --html."""
    verdicts = [json.loads(Path(p).read_text()) for p in args.verdicts]
    links = [os.path.relpath(p, Path(args.html).parent) for p in args.reports]
    atomic.write_text(args.html, render_index(verdicts, links))
