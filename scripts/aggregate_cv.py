"""Aggregate fold metrics into cv_runs.csv, cv_summary.csv, a Markdown table and a heatmap."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.select.aggregate import aggregate_cv

if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--metrics", nargs="+", required=True)
    arguments.add_argument("--folds", type=int, required=True)
    arguments.add_argument("--dataset", required=True)
    arguments.add_argument(
        "--camera-severity", type=int, help="camera level of mean_camera_accuracy"
    )
    for name in ("runs", "summary", "markdown", "heatmap"):
        arguments.add_argument(f"--{name}", required=True)
    run(aggregate_cv, arguments, globals().get("snakemake"))
