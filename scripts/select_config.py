"""Choose the best architecture × generator × size from cv_summary.csv into selection.json."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.select.selection import select_best


def main(args) -> None:
    selection = select_best(pd.read_csv(args.summary), args.metric, args.tie_break)
    logging.getLogger("select").info("selected %s", selection)
    atomic.write_json(args.out, selection)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--summary", required=True)
    arguments.add_argument("--metric", default="mean_accuracy")
    arguments.add_argument("--tie-break", default="none", choices=["none", "smallest", "fastest"])
    arguments.add_argument("--out", required=True)
    run(main, arguments, globals().get("snakemake"))
