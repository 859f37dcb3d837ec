"""Precompute K seeded phone views (gallery or live-camera path) of every training-eligible
image at one size for one generator with a ``phone_views`` section; holdout images get none."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.train.phone_views import phone_views

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("splits", "root", "views", "table"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--size", type=int, required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    arguments.add_argument("--threads", type=int, default=1, help="images emulated at once")
    run(phone_views, arguments, globals().get("snakemake"))
