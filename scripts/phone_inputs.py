"""Every CV test image (all non-holdout images) through the gallery path and the camera path
at every mobile.camera_levels severity, at one image size (mobileclf.mobile.phone_inputs)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.phone_inputs import phone_inputs

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("splits", "root", "out"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--size", type=int, required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    arguments.add_argument("--threads", type=int, default=1, help="images emulated at once")
    run(phone_inputs, arguments, globals().get("snakemake"))
