"""Predict every emulated input path (computer, gallery, camera severities) with one model
variant: the Keras model or one TFLite file (in LiteRT, and in MediaPipe's ImageClassifier
from the decoded images under --root). Writes long-format predictions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.predict import mobile_predict

if __name__ == "__main__":
    arguments = parser(__doc__)
    names = ("variant", "model", "labels", "holdout", "computer", "gallery", "out")
    for name in (*names, "root"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument(
        "--metadata", nargs="?", help="export/metadata_<variant>.json (TFLite variants only)"
    )
    arguments.add_argument("--camera", nargs="+", required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    run(mobile_predict, arguments, globals().get("snakemake"))
