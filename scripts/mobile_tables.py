"""Mobile table, phone-test list, robustness plot, contact sheet and the verdict."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.tables import mobile_tables

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("predictions", "models", "camera", "examples"):
        arguments.add_argument(f"--{name}", nargs="+", required=True)
    for name in (
        "dataset",
        "labels",
        "spec",
        "cv-summary",
        "holdout",
        "table",
        "phone-test",
        "robustness",
        "contact-sheet",
        "verdict",
    ):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--positive-class", default="")
    arguments.add_argument("--phone-measured", help="tables/phone_measured.csv (phone check)")
    arguments.add_argument("--options", type=json_arg, required=True)
    run(mobile_tables, arguments, globals().get("snakemake"))
