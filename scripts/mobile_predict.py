"""Predict every emulated input path (computer, gallery, camera severities) with one model
variant: the Keras model or one TFLite file. Writes long-format predictions."""

import json
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.mobile.predict import (
    KERAS,
    app_normalization,
    predict_keras,
    predict_tflite,
    prediction_frame,
)


def camera_severity(path: str) -> int:
    match = re.search(r"camera_(\d+)\.npy$", path)
    if not match:
        raise ValueError(f"camera input {path} is not named camera_<severity>.npy")
    return int(match.group(1))


def main(args) -> None:
    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    holdout["phone_test"] = holdout.phone_test.astype(str).str.lower() == "true"
    inputs = [("computer", None, args.computer), ("gallery", None, args.gallery)]
    inputs += sorted((("camera", camera_severity(p), p) for p in args.camera), key=lambda t: t[1])
    if args.variant == KERAS:
        from mobileclf import tf_runtime

        tf_runtime.configure(1, 0)

        def predict(images: np.ndarray) -> np.ndarray:
            return predict_keras(args.model, images)
    else:
        mean, std = app_normalization(json.loads(Path(args.metadata).read_text()), args.variant)
        logging.getLogger("predict").info("app NormalizeOp mean=%s std=%s", mean, std)

        def predict(images: np.ndarray) -> np.ndarray:
            return predict_tflite(args.model, images, mean, std)

    frames = []
    for path, severity, array_path in inputs:
        images = np.load(array_path)
        probabilities = predict(images)
        frame = prediction_frame(holdout, args.variant, path, severity, probabilities)
        accuracy = float((frame.predicted == frame.y).mean())
        logging.getLogger("predict").info(
            "%s %s %s: accuracy %.3f",
            args.variant,
            path,
            "" if severity is None else severity,
            accuracy,
        )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    atomic.write_with(args.out, lambda p: table.to_csv(p, index=False))


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("variant", "model", "metadata", "holdout", "computer", "gallery", "out"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--camera", nargs="+", required=True)
    run(main, arguments, globals().get("snakemake"))
