"""Write results/index.html: every dataset's verdict, linked to its report."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.report.report import render_index


def main(args) -> None:
    verdicts = [json.loads(Path(p).read_text()) for p in args.verdicts]
    links = [os.path.relpath(p, Path(args.html).parent) for p in args.reports]
    atomic.write_text(args.html, render_index(verdicts, links))


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--verdicts", nargs="+", required=True)
    arguments.add_argument("--reports", nargs="+", required=True, help="same order as --verdicts")
    arguments.add_argument("--html", required=True)
    run(main, arguments, globals().get("snakemake"))
