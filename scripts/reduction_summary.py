"""Summarise the reduction grid: table, heatmap, accuracy-vs-parameters plot, reduction.json."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.reduce.summary import reduction_summary

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("selection", "table", "heatmap", "tradeoff", "out", "dataset"):
        arguments.add_argument(f"--{name}", required=True)
    for name in ("images", "splits", "labels"):
        arguments.add_argument(
            f"--{name}", help="the selected size's array, splits.csv, labels.txt"
        )
    arguments.add_argument(
        "--blocks", nargs="*", default=[], help="block CSVs from reduction_block.py"
    )
    arguments.add_argument(
        "--arch-spec", type=json_arg, required=True, help="selected architecture spec (JSON)"
    )
    arguments.add_argument(
        "--generator-spec", type=json_arg, required=True, help="selected generator spec (JSON)"
    )
    arguments.add_argument(
        "--grid",
        type=json_arg,
        required=True,
        help="reduction section: filters, neurons, tolerance",
    )
    run(reduction_summary, arguments, globals().get("snakemake"))
