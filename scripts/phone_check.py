"""Build results/{dataset}/phone_check/page/: the static page that runs the deployed bundle
in a phone's browser, with its holdout sheet (docs/phone-check.md)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.phone_check.build import phone_check

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("dataset", "holdout", "labels", "spec", "lockfile", "page"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--models", nargs="+", required=True, help="deploy/model_*.tflite")
    arguments.add_argument(
        "--read-back", nargs="+", required=True, help="export/metadata_*.json, one per variant"
    )
    arguments.add_argument("--sources", nargs="+", required=True, help="web/src files")
    arguments.add_argument("--root", required=True, help="the dataset's image folder")
    arguments.add_argument(
        "--node-modules",
        default=str(Path(__file__).resolve().parents[1] / "web" / "node_modules"),
        help="the installed web runtime (make install); not a param: where the repository "
        "lies must not rerun the page, web/package-lock.json (an input) says what it holds",
    )
    arguments.add_argument("--options", type=json_arg, required=True)
    run(phone_check, arguments, globals().get("snakemake"))
