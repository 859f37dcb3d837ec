"""The live-camera input path of the holdout images at one severity level, plus a few
example frames for the contact sheet."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.inputs import mobile_camera_inputs

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("holdout", "spec", "root", "inputs", "examples"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--severity", type=int, required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    run(mobile_camera_inputs, arguments, globals().get("snakemake"))
