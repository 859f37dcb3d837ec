"""Write one dataset's report (self-contained HTML + Markdown), or with --index the page
that links the reports of a multi-dataset run."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.report import build_sections, render_html, render_index, render_markdown


def main(args) -> None:
    if args.index:
        verdicts = [json.loads(Path(p).read_text()) for p in args.verdicts]
        links = [
            os.path.relpath(Path(p).parent / "report.html", Path(args.html).parent)
            for p in args.verdicts
        ]
        atomic.write_text(args.html, render_index(verdicts, links))
        return
    results = Path(args.results)
    headline, sections = build_sections(results, args.dataset, Path(args.benchmarks))
    title = f"mobileclf report: {args.dataset}"
    atomic.write_text(args.html, render_html(title, headline, sections))
    atomic.write_text(args.markdown, render_markdown(title, headline, sections, results))


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--index", action="store_true", help="write the multi-dataset index")
    arguments.add_argument("--verdicts", nargs="+", help="--index: every dataset's verdict.json")
    arguments.add_argument("--dataset")
    arguments.add_argument("--results", help="results/<dataset> folder")
    arguments.add_argument("--benchmarks", default="benchmarks")
    arguments.add_argument("--html", required=True)
    arguments.add_argument("--markdown")
    run(main, arguments)
