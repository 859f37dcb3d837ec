"""The computer and gallery input paths of the holdout images, and mobile/holdout.csv
(which images, and which of them form the paper-style phone test)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.inputs import mobile_reference_inputs

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("splits", "labels", "spec", "root", "holdout", "computer", "gallery"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    run(mobile_reference_inputs, arguments, globals().get("snakemake"))
