"""Predict every emulated input path (computer, gallery, camera severities) with one model
variant: the Keras model or one TFLite file. Writes long-format predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.mobile.predict import mobile_predict

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("variant", "model", "metadata", "holdout", "computer", "gallery", "out"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--camera", nargs="+", required=True)
    run(mobile_predict, arguments, globals().get("snakemake"))
