"""Write one dataset's report: a self-contained HTML file (images embedded) and Markdown."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.report.report import build_sections, render_html, render_markdown

# Files the report reads (the rule's inputs); all live under results/<dataset>/.
REPORT_INPUTS = (
    "manifest",
    "splits",
    "labels",
    "cv_summary",
    "cv_heatmap",
    "selection",
    "reduction",
    "export",
    "final_metrics",
    "spec",
    "mobile",
    "phone_test",
    "latency",
    "robustness",
    "contact_sheet",
)


def main(args) -> None:
    results = Path(args.verdict).parent
    missing = [
        name
        for name in REPORT_INPUTS
        if getattr(args, name) and not Path(getattr(args, name)).exists()
    ]
    if missing:
        raise FileNotFoundError(f"report inputs missing: {missing}")
    dataset = args.dataset or results.name
    headline, sections = build_sections(results, dataset, Path(args.benchmarks))
    title = f"mobileclf report: {dataset}"
    atomic.write_text(args.html, render_html(title, headline, sections))
    atomic.write_text(args.markdown, render_markdown(title, headline, sections, results))


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--verdict", required=True, help="results/<dataset>/verdict.json")
    for name in REPORT_INPUTS:
        arguments.add_argument("--" + name.replace("_", "-"), dest=name)
    arguments.add_argument("--dataset", help="default: the results folder's name")
    arguments.add_argument("--benchmarks", default="benchmarks")
    arguments.add_argument("--html", required=True)
    arguments.add_argument("--markdown", required=True)
    run(main, arguments, globals().get("snakemake"))
