"""Mobile-emulated testing (Muneeb et al. (2022), step 7): holdout images through the phone's input
paths, every model variant, one table.

Three input paths per holdout image, all uint8 at the model's size:

* ``computer``: the training preprocessing (``mobileclf.data.resize.to_square`` with the
  config's ``resize`` section), i.e. what cross-validation and the export measured;
* ``gallery``: the Flutter plugin's decode + Android bilinear scaling
  (:func:`mobileclf.mobile.camera.gallery_input`);
* ``camera``: the live-camera template at each severity level
  (:func:`mobileclf.mobile.camera.camera_input`).

Each variant (the Keras model, then each TFLite file) predicts every path in the LiteRT
interpreter; each TFLite file also goes through MediaPipe Tasks' ImageClassifier, the
runtime apps load it with (path ``mediapipe``: the decoded image, resized, normalised and
labelled by MediaPipe from the bundle's metadata; :mod:`mobileclf.mobile.mediapipe_classifier`).
The table reports accuracy, macro F1, sensitivity/specificity and the drop against the
Keras model on the computer path (the number a user sees before building an app).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.errors import REPAIR, UserError

KERAS = "keras"
PATHS = ("computer", "gallery", "camera", "mediapipe")


class MobileInputError(UserError):
    """Deploy outputs or emulation inputs are missing or inconsistent."""


# --- which images ---------------------------------------------------------------------


def holdout_rows(
    splits: pd.DataFrame, labels: list[str], per_class: int, seed: int
) -> pd.DataFrame:
    """Holdout images with their class index and the paper-style phone test flag.

    The phone test takes ``per_class`` images per class, ranked by a seeded hash of
    the path: deterministic, independent of file order, and listed in the output.
    """
    holdout = splits[splits.set == "holdout"][["path", "label"]].reset_index(drop=True)
    if holdout.empty:
        raise MobileInputError(
            "the holdout is empty (split.holdout_fraction: 0); mobile testing needs images "
            "never used for training: set split.holdout_fraction > 0"
        )
    holdout["y"] = holdout.label.map({label: i for i, label in enumerate(labels)}).astype(int)
    holdout["rank"] = [
        hashlib.sha256(f"{seed}:{path}".encode()).hexdigest() for path in holdout.path
    ]
    chosen = holdout.sort_values(["label", "rank"]).groupby("label").head(per_class).index
    holdout["phone_test"] = holdout.index.isin(chosen)
    return holdout.drop(columns="rank")


# --- inference ------------------------------------------------------------------------


def app_normalization(read_back: dict, variant: str) -> tuple[list[float], list[float]]:
    """The app's ``NormalizeOp(mean, std)``: what the variant's embedded TFLite metadata says,
    as read back by the export stage (export/metadata_<variant>.json, the same entry as
    deploy/metadata.json's ``variants.<variant>``: ``input.norm_mean/norm_std``).

    Our models take raw 0..255 pixels and normalise inside the model, so this should be
    mean 0, std 1; whatever the metadata says is what an app built from it will do.
    """
    entry = read_back.get("input", {}) if read_back.get("variant") == variant else {}
    mean, std = entry.get("norm_mean"), entry.get("norm_std")
    if mean is None or std is None:
        raise MobileInputError(
            f"export/metadata_{variant}.json has no input normalisation for variant "
            f"{variant!r} (input.norm_mean/norm_std); delete it and {REPAIR}"
        )
    return [float(v) for v in np.atleast_1d(mean)], [float(v) for v in np.atleast_1d(std)]


def _quantize(real: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return real.astype(dtype)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    values = real / scale + zero_point if scale else real
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if np.issubdtype(values.dtype, np.integer) and scale:
        return (values.astype(np.float64) - zero_point) * scale
    return values.astype(np.float64)


def predict_tflite(
    model_path: str | Path,
    images: np.ndarray,
    mean: list[float],
    std: list[float],
    threads: int = 1,
) -> np.ndarray:
    """Class probabilities from a TFLite file in the LiteRT interpreter, one image per call
    (as the apps do); uint8/int8 inputs get the app's normalised value quantised by the
    tensor's own scale/zero point (identity for the usual uint8 0..255 input)."""
    from mobileclf.export.verify import open_interpreter
    from mobileclf.mobile.camera import normalize

    interpreter = open_interpreter(Path(model_path), threads)
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    expected = tuple(int(s) for s in source["shape"][1:])
    if tuple(images.shape[1:]) != expected:
        raise MobileInputError(
            f"{model_path} expects input {expected}, the emulated images are {images.shape[1:]}; "
            "the deploy files and final/spec.json come from different runs: rerun the export"
        )
    out = []
    for image in images:
        real = normalize(image[None], mean, std)
        interpreter.set_tensor(source["index"], _quantize(real, source))
        interpreter.invoke()
        out.append(_dequantize(interpreter.get_tensor(target["index"]), target)[0])
    return np.asarray(out)


def predict_keras(model_path: str | Path, images: np.ndarray) -> np.ndarray:
    """Class probabilities from the final Keras model (raw 0..255 float input)."""
    import keras

    model = keras.saving.load_model(model_path, compile=False)
    return np.asarray(
        model.predict(images.astype(np.float32), batch_size=32, verbose=0), dtype=np.float64
    )


def prediction_frame(
    holdout: pd.DataFrame, variant: str, path: str, severity: int | None, probabilities: np.ndarray
) -> pd.DataFrame:
    """Long-format predictions: one row per image × variant × path × severity."""
    frame = holdout[["path", "label", "y", "phone_test"]].rename(columns={"path": "image"}).copy()
    frame.insert(0, "variant", variant)
    frame.insert(1, "path", path)
    frame.insert(2, "severity", pd.array([severity] * len(frame), dtype="Int64"))
    frame["predicted"] = probabilities.argmax(axis=1)
    for k in range(probabilities.shape[1]):
        frame[f"prob_{k}"] = probabilities[:, k]
    return frame


# --- the mobile_predict stage ---------------------------------------------------------


def camera_severity(path: str) -> int:
    """The severity in a camera input's name, ``camera_<severity>.npy``."""
    match = re.search(r"camera_(\d+)\.npy$", path)
    if not match:
        raise ValueError(f"camera input {path} is not named camera_<severity>.npy")
    return int(match.group(1))


def _predictor(variant: str, model: str, metadata: str):
    """images -> probabilities for one variant, fed as the app feeds it."""
    if variant == KERAS:
        from mobileclf import tf_runtime

        tf_runtime.configure(1, 0)
        return lambda images: predict_keras(model, images)
    mean, std = app_normalization(json.loads(Path(metadata).read_text()), variant)
    logging.getLogger("predict").info("app NormalizeOp mean=%s std=%s", mean, std)
    return lambda images: predict_tflite(model, images, mean, std)


def decoded_holdout(holdout: pd.DataFrame, root: str, options: dict) -> list[np.ndarray]:
    """Every holdout image as the app has it before resizing: decoded as on the gallery
    path (the ingest rule, ``load_rgb``) and segmented when the app segments."""
    from mobileclf.data.images import load_rgb
    from mobileclf.data.segment import app_step

    segment = app_step(options["segmentation"])
    images = []
    for path in holdout.path:
        rgb = load_rgb(Path(root) / path, options["max_pixels"], options["oversize"]).rgb
        images.append(segment(rgb) if segment is not None else rgb)
    return images


def mediapipe_frame(args, holdout: pd.DataFrame) -> pd.DataFrame:
    """Path ``mediapipe``: the TFLite file in MediaPipe's ImageClassifier, fed the decoded
    image (MediaPipe resizes and normalises); ``same_input_predicted`` is its answer on
    the gallery path's model-size input, which isolates the runtime from the resize."""
    from mobileclf.data.datasets import read_labels
    from mobileclf.mobile.mediapipe_classifier import mediapipe_predict

    labels = read_labels(args.labels)
    top, scores = mediapipe_predict(
        args.model, decoded_holdout(holdout, args.root, args.options), labels
    )
    frame = prediction_frame(holdout, args.variant, "mediapipe", None, scores)
    frame["predicted"] = top  # MediaPipe's first category: what the app shows
    same_input, _ = mediapipe_predict(args.model, list(np.load(args.gallery)), labels)
    frame["same_input_predicted"] = pd.array(same_input, dtype="Int64")
    return frame


def mobile_predict(args) -> None:
    """The mobile_predict stage: one variant on every input path, long-format predictions.

    ``args`` are scripts/mobile_predict.py's flags.
    """
    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    holdout["phone_test"] = holdout.phone_test.astype(str).str.lower() == "true"
    inputs = [("computer", None, args.computer), ("gallery", None, args.gallery)]
    inputs += sorted((("camera", camera_severity(p), p) for p in args.camera), key=lambda t: t[1])
    predict = _predictor(args.variant, args.model, args.metadata)
    frames = []
    for path, severity, array_path in inputs:
        images = np.load(array_path)
        probabilities = predict(images)
        frames.append(prediction_frame(holdout, args.variant, path, severity, probabilities))
    if args.variant != KERAS:
        frames.append(mediapipe_frame(args, holdout))
    for frame in frames:
        severity = frame.severity.iloc[0]
        logging.getLogger("predict").info(
            "%s %s %s: accuracy %.3f",
            args.variant,
            frame.path.iloc[0],
            "" if pd.isna(severity) else severity,
            float((frame.predicted == frame.y).mean()),
        )
    table = pd.concat(frames, ignore_index=True)
    atomic.write_with(args.out, lambda p: table.to_csv(p, index=False))
