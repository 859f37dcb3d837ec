"""Collect the phone's accepted runs (results/{dataset}/phone_check/measured/*.json) into
results/{dataset}/tables/phone_measured.csv, for the verdict and the report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.phone_check.measured import phone_measured

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("dataset", "holdout", "labels", "table"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--runs", nargs="*", default=[], help="phone_check/measured/*.json")
    arguments.add_argument("--variants", type=json_arg, required=True, help="JSON list")
    run(phone_measured, arguments, globals().get("snakemake"))
