"""Run exported TFLite variants in the LiteRT interpreter and compare them with Keras.

A converted file that loads is not yet a working model: quantization can flip
predictions, and a wrong input type makes the app feed garbage. So every variant is run
on the holdout images exactly as an app would feed them (raw RGB; uint8 bytes for the
int8 variant) and compared with the Keras model it came from.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileclf import atomic
from mobileclf.errors import UserError

log = logging.getLogger("verify")


class VerificationError(UserError):
    """A variant that must match the Keras model does not."""


def quantize(images: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Raw 0..255 images as the model's input tensor type (``real = scale * (q - zp)``)."""
    if np.issubdtype(dtype, np.floating):
        return images.astype(dtype)
    info = np.iinfo(dtype)
    scale = scale or 1.0
    quantized = np.round(images.astype(np.float64) / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer outputs back to probabilities; float outputs unchanged."""
    if np.issubdtype(values.dtype, np.floating):
        return values.astype(np.float64)
    return scale * (values.astype(np.float64) - zero_point)


XNNPACK_REFUSED = (
    "LiteRT's XNNPACK (the CPU runtime of MediaPipe and of phone apps) refuses to prepare "
    "this model ({error}). In an int8 model this is a layer whose quantized ranges XNNPACK "
    "cannot rescale between (requantization scale out of its range), most often a model "
    "that collapsed in training: check its accuracy and train it longer, or deploy the "
    "float16/dynamic variant"
)


def open_interpreter(model: bytes | str | Path, threads: int = 1, delegates: bool = True):
    """A LiteRT interpreter with its tensors allocated, for a flatbuffer or a .tflite path:
    the one place every stage (verification, phone tests, latency) opens a model, so a model
    XNNPACK refuses stops each of them with :data:`XNNPACK_REFUSED`, not a bare RuntimeError.

    ``delegates=False`` runs LiteRT's builtin kernels without XNNPACK (tests only: a phone
    runs XNNPACK, so a model it refuses is refused here).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = (
        OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    source = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    interpreter = Interpreter(**source, num_threads=threads, experimental_op_resolver_type=resolver)
    try:
        interpreter.allocate_tensors()
    except RuntimeError as error:
        if "XNNPACK" not in str(error):
            raise
        raise VerificationError(XNNPACK_REFUSED.format(error=str(error).strip(" .\n"))) from None
    return interpreter


def run_tflite(
    model: bytes, images: np.ndarray, threads: int = 1, delegates: bool = True
) -> np.ndarray:
    """Class probabilities (N × classes, float64) from the LiteRT interpreter.

    ``images`` are raw uint8 RGB (N × S × S × 3). One image per invoke, as on a phone.
    ``delegates`` as in :func:`open_interpreter`.
    """
    interpreter = open_interpreter(model, threads, delegates)
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    feed = quantize(np.asarray(images), inp["dtype"], *inp["quantization"])
    rows = []
    for image in feed:
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"])[0].copy())
    if not rows:
        return np.zeros((0, out["shape"][-1]))
    return dequantize(np.stack(rows), *out["quantization"])


@dataclass(frozen=True)
class Comparison:
    """One variant against the Keras model on the same images."""

    agreement: float  # share of images with the same top-1 class
    accuracy: float
    accuracy_delta: float  # variant accuracy - Keras accuracy (negative: a drop)
    max_prob_diff: float  # largest |p_variant - p_keras| over all images and classes
    mean_prob_diff: float


def compare(keras_probs: np.ndarray, variant_probs: np.ndarray, y_true: np.ndarray) -> Comparison:
    if keras_probs.shape != variant_probs.shape:
        raise VerificationError(
            f"variant outputs have shape {variant_probs.shape}, the Keras model {keras_probs.shape}"
        )
    keras_top = keras_probs.argmax(axis=1)
    variant_top = variant_probs.argmax(axis=1)
    difference = np.abs(variant_probs - keras_probs)
    keras_accuracy = float(np.mean(keras_top == y_true)) if len(y_true) else float("nan")
    accuracy = float(np.mean(variant_top == y_true)) if len(y_true) else float("nan")
    return Comparison(
        agreement=float(np.mean(keras_top == variant_top)) if len(y_true) else float("nan"),
        accuracy=accuracy,
        accuracy_delta=accuracy - keras_accuracy,
        max_prob_diff=float(difference.max()) if difference.size else 0.0,
        mean_prob_diff=float(difference.mean()) if difference.size else 0.0,
    )


def check_float32(variant: str, comparison: Comparison, tolerance: float) -> None:
    """A float32 conversion must reproduce Keras: any larger difference is a conversion bug.

    Near-ties may flip the top-1 class even within tolerance, so the probability
    difference, not the agreement, is the criterion.
    """
    if not comparison.max_prob_diff <= tolerance:
        raise VerificationError(
            f"variant {variant!r} differs from the Keras model by up to "
            f"{comparison.max_prob_diff:.3g} in probability (export.tolerance={tolerance:g}; "
            f"top-1 agreement {comparison.agreement:.1%}): the conversion is broken, do not "
            "deploy it; see the per-variant table in this log"
        )


# tables/export.csv, one row per variant
COLUMNS = [
    "variant",
    "bytes",
    "input_dtype",
    "output_dtype",
    "weights",
    "n_images",
    "agreement",
    "accuracy",
    "keras_accuracy",
    "accuracy_delta",
    "max_prob_diff",
    "mean_prob_diff",
    "check",
]


def verify_export(args) -> None:
    """The verify_export stage: every variant against Keras on the holdout images.

    ``args`` are scripts/verify_export.py's flags. Writes ``args.table`` (tables/export.csv)
    and ``args.details`` (every variant's classification metrics); fails naming float32 if
    it differs from Keras by more than ``args.tolerance``.
    """
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    import keras
    import pandas as pd

    from mobileclf.data.datasets import array_for_size, load
    from mobileclf.metrics import classification_metrics

    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    data = load(array_for_size(args.arrays, spec["size"]), args.splits, args.labels)
    holdout = np.flatnonzero(data.splits["set"].to_numpy() == "holdout")
    if not len(holdout):
        raise UserError(
            "split.holdout_fraction is 0: there are no holdout images to verify the "
            "exported models on; set it above 0 (default 0.15)"
        )
    images = np.asarray(data.images[holdout])
    y_true = data.y[holdout]
    positive = data.labels.index(args.positive_class) if args.positive_class else 1
    keras_probs = keras.models.load_model(args.keras_model).predict(
        images.astype(np.float32), batch_size=64, verbose=0
    )
    rows, comparisons = [], {}
    details = {
        "n_images": len(holdout),
        "tolerance": args.tolerance,
        "keras": classification_metrics(y_true, keras_probs, data.labels, positive),
        "variants": {},
    }
    for path in args.models:
        variant = Path(path).stem.removeprefix("model_")
        flatbuffer = Path(path).read_bytes()
        probs = run_tflite(flatbuffer, images, args.threads)
        comparisons[variant] = compare(keras_probs, probs, y_true)
        rows.append(
            _table_row(variant, len(flatbuffer), len(holdout), comparisons[variant], args.tolerance)
        )
        details["variants"][variant] = classification_metrics(y_true, probs, data.labels, positive)
    table = pd.DataFrame(rows, columns=COLUMNS)
    log.info(
        "export verification on %d holdout images:\n%s", len(holdout), table.to_string(index=False)
    )
    if "float32" in comparisons:
        check_float32("float32", comparisons["float32"], args.tolerance)
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    atomic.write_json(args.details, details)


def _table_row(
    variant: str, n_bytes: int, n_images: int, comparison: Comparison, tolerance: float
) -> dict:
    """One row of tables/export.csv."""
    from mobileclf.export.convert import VARIANT_INFO

    info = VARIANT_INFO[variant]
    return {
        "variant": variant,
        "bytes": n_bytes,
        "input_dtype": info.input_dtype,
        "output_dtype": info.output_dtype,
        "weights": info.weights,
        "n_images": n_images,
        "agreement": comparison.agreement,
        "accuracy": comparison.accuracy,
        "keras_accuracy": comparison.accuracy - comparison.accuracy_delta,
        "accuracy_delta": comparison.accuracy_delta,
        "max_prob_diff": comparison.max_prob_diff,
        "mean_prob_diff": comparison.mean_prob_diff,
        "check": f"max_prob_diff <= {tolerance:g}" if variant == "float32" else "reported",
    }
