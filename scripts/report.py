"""Write one dataset's report: a self-contained HTML file (images embedded) and Markdown."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.report.inputs import NAMED_INPUTS
from mobileclf.report.report import report

if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--verdict", required=True, help="results/<dataset>/verdict.json")
    for name in NAMED_INPUTS:
        arguments.add_argument("--" + name.replace("_", "-"), dest=name)
    arguments.add_argument("--dataset", help="default: the results folder's name")
    arguments.add_argument("--benchmarks", default="benchmarks")
    arguments.add_argument("--html", required=True)
    arguments.add_argument("--markdown", required=True)
    run(report, arguments, globals().get("snakemake"))
