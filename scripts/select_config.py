"""Choose the best architecture × generator × size from cv_summary.csv into selection.json,
with choice.json (what the later stages read) and tables/cv_best.csv (the verdict's ceiling)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.select.selection import choice_of, grid_best, select_best


def main(args) -> None:
    summary = pd.read_csv(args.summary)
    selection = select_best(summary, args.metric, args.tie_break)
    logging.getLogger("select").info("selected %s", selection)
    atomic.write_json(args.out, selection)
    atomic.write_json(args.choice, choice_of(selection))
    atomic.write_with(
        args.best,
        lambda path: grid_best(summary, selection, args.phone_generators).to_csv(path, index=False),
    )


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--summary", required=True)
    arguments.add_argument("--metric", default="mean_accuracy")
    arguments.add_argument("--tie-break", default="none", choices=["none", "smallest", "fastest"])
    arguments.add_argument("--out", required=True)
    arguments.add_argument("--choice", required=True, help="choice.json")
    arguments.add_argument("--best", required=True, help="tables/cv_best.csv")
    arguments.add_argument(
        "--phone-generators", nargs="*", default=[], help="generators with phone_views"
    )
    run(main, arguments, globals().get("snakemake"))
