"""Backbone table: accuracy, parameters, int8 TFLite bytes and LiteRT latency per backbone.

Trains every keras.applications backbone with ``weights: none`` (no ImageNet download
here) on one stratified split of a labelled folder, converts it to a full-integer int8
TFLite model (uint8 in/out) and times it in ai_edge_litert's Interpreter with one thread.
Prints a Markdown table and writes it as CSV. From-scratch accuracies on a few hundred
images after a few epochs say little about ImageNet fine-tuning; the size and latency
columns do not depend on the weights.

    python bench/backbones.py --root ../shared/datasets/sarscov2-ct-mini --size 64 --epochs 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from mobileclf.data.images import load_rgb
from mobileclf.data.resize import to_square
from mobileclf.train.backbones import BACKBONES

HEAD = [{"type": "gap"}, {"type": "dense", "units": 128}, {"type": "dropout", "rate": 0.2}]


def load_folder(root: Path, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    labels = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, y = [], []
    for index, label in enumerate(labels):
        for path in sorted((root / label).iterdir()):
            images.append(to_square(load_rgb(path).rgb, size))
            y.append(index)
    return np.stack(images), np.array(y), labels


def roles_for(y: np.ndarray, seed: int) -> np.ndarray:
    """70 % train, 10 % validation, 20 % test, stratified."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=0.2, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=0.125, stratify=y[rest], random_state=seed)
    roles = np.empty(len(y), dtype=object)
    roles[train], roles[val], roles[test] = "train", "val", "test"
    return roles


def int8_tflite(model, images: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([i[None].astype(np.float32)] for i in images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


def litert_figures(flatbuffer: bytes, images: np.ndarray, y: np.ndarray, runs: int) -> dict:
    """int8 accuracy on ``images`` and the median single-image latency, one thread."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    predictions = []
    for image in images:
        interpreter.set_tensor(source, image[None])
        interpreter.invoke()
        predictions.append(int(interpreter.get_tensor(target)[0].argmax()))
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        interpreter.set_tensor(source, images[0][None])
        interpreter.invoke()
        timings.append(1000 * (time.perf_counter() - started))
    return dict(
        int8_accuracy=float(np.mean(np.array(predictions) == y)),
        latency_ms=float(np.median(timings)),
    )


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--root", type=Path, required=True)
    arguments.add_argument("--size", type=int, default=64)
    arguments.add_argument("--epochs", type=int, default=5)
    arguments.add_argument("--batch-size", type=int, default=16)
    arguments.add_argument("--runs", type=int, default=50, help="latency repetitions")
    arguments.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--out", type=Path, default=Path("backbones.csv"))
    args = arguments.parse_args()

    from mobileclf import tf_runtime

    tf_runtime.configure(1, args.seed)
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    images, y, labels = load_folder(args.root, args.size)
    roles = roles_for(y, args.seed)
    test = roles == "test"
    settings = TrainSettings.from_config(
        dict(epochs=args.epochs, batch_size=args.batch_size, optimizer="adam",
             learning_rate=0.001, schedule={"type": "cosine", "min_learning_rate": 1e-5})
    )  # fmt: skip
    rows = []
    for name in args.backbones:
        backbone = {"name": name, "weights": "none"}
        result = fit_and_evaluate(
            images, y, roles, labels, HEAD, {"horizontal_flip": True}, settings, args.seed,
            backbone=backbone, arch=name,
        )  # fmt: skip
        started = time.perf_counter()
        flatbuffer = int8_tflite(result.model, images[roles == "train"][:32])
        convert_seconds = time.perf_counter() - started
        rows.append(
            dict(
                backbone=name,
                size=args.size,
                epochs=result.metrics["epochs_run"],
                accuracy=result.metrics["accuracy"],
                macro_f1=result.metrics["macro_f1"],
                auc=result.metrics["auc"],
                n_params=result.metrics["n_params"],
                int8_bytes=len(flatbuffer),
                **litert_figures(flatbuffer, images[test], y[test], args.runs),
                train_seconds=result.metrics["train_seconds"],
                convert_seconds=round(convert_seconds, 1),
            )
        )
        table = pd.DataFrame(rows)
        table.to_csv(args.out, index=False)
        print(table.to_markdown(index=False, floatfmt=".3f"), flush=True)


if __name__ == "__main__":
    main()
