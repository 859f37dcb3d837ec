"""Check one size's array, splits.csv, labels.txt and manifest.csv before any job reads them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.data.check import check_data

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("images", "splits", "labels", "manifest", "size", "out"):
        arguments.add_argument(f"--{name}", required=True)
    run(check_data, arguments, globals().get("snakemake"))
