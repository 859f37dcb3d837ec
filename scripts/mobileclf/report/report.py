"""The report stage: one dataset's report as self-contained HTML and as Markdown.

Built from the rule's named inputs as one object (:mod:`mobileclf.report.inputs`), one
function per section (:mod:`mobileclf.report.sections`), rendered by
:mod:`mobileclf.report.render`.
"""

from __future__ import annotations

from mobileclf import atomic
from mobileclf.report.inputs import ReportInputs
from mobileclf.report.render import render_html, render_markdown
from mobileclf.report.sections import build_sections


def report(args) -> None:
    """``args`` are scripts/report.py's flags: the rule's inputs, --html and --markdown."""
    inputs = ReportInputs.from_args(args)
    missing = inputs.missing()
    if missing:
        raise FileNotFoundError(f"report inputs missing: {missing}")
    headline, sections = build_sections(inputs)
    title = f"mobileclf report: {inputs.dataset}"
    atomic.write_text(args.html, render_html(title, headline, sections))
    atomic.write_text(args.markdown, render_markdown(title, headline, sections, inputs.results))
