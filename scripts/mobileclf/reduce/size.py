"""How big a model is as the reduction grid measures it: parameters and float32 TFLite bytes.

Shared by the reduction blocks (each cell's size) and the summary (the selected model's
size before reduction), so both count the same way.
"""

from __future__ import annotations

import numpy as np

from mobileclf.train.architectures import build_model
from mobileclf.train.augmentation import input_normalization


def tflite_float32_bytes(model) -> int:
    """Size of the model as a float32 TFLite flatbuffer (no quantization, no metadata)."""
    import tensorflow as tf

    return len(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def selected_model_bytes(
    images: np.ndarray, splits, labels: list[str], layers: list[dict], generator: dict
) -> tuple[int, int]:
    """(n_params, float32 TFLite bytes) of the selected model as fit_and_evaluate builds it.

    Built on fold 0's normalisation statistics and not trained. The parameter count
    depends on the shapes only; the byte count almost: the converter stores a constant
    whose entries are all equal (a fresh model's zero biases) in less space. So the
    weights are set to random values first, which costs what trained weights cost.
    """
    roles = splits["fold0"].to_numpy()
    train_x = np.asarray(images[np.flatnonzero(roles == "train")])
    scale, mean, std = input_normalization(generator, train_x)
    model = build_model(layers, images.shape[1], len(labels), scale, mean, std)
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(rng.normal(0.0, 0.05, tuple(variable.shape)).astype("float32"))
    return int(model.count_params()), tflite_float32_bytes(model)
