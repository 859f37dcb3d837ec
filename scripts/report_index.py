"""Write results/index.html: every dataset's verdict, linked to its report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.report.index import report_index

if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--verdicts", nargs="+", required=True)
    arguments.add_argument("--reports", nargs="+", required=True, help="same order as --verdicts")
    arguments.add_argument("--html", required=True)
    run(report_index, arguments, globals().get("snakemake"))
