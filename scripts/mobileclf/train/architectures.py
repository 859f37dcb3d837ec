"""Build Keras models from the declarative architecture specs in the config.

A spec is a list of layers (``conv``, ``maxpool``, ``flatten``, ``gap``, ``dense``,
``dropout``); the softmax classifier is appended here, so one spec serves any number of
classes. The input is the raw RGB image (0..255, float32); the model's own first layers
rescale and normalise it, so the exported TFLite model needs no hidden app-side maths.
With a ``backbone`` (see :mod:`mobileclf.train.backbones`) the layers are the head on top of it.
"""

from __future__ import annotations

import numpy as np

LAYER_TYPES = ("conv", "maxpool", "flatten", "gap", "dense", "dropout")


def with_reduction(layers: list[dict], filters: int | None, neurons: int | None) -> list[dict]:
    """Copy of ``layers`` with the first conv's filters and first dense's units replaced.

    This is the paper's parameter reduction (section 2.3): vary the first convolution's
    filters and the first fully connected layer's neurons, keep everything else.
    """
    out = [dict(layer) for layer in layers]
    if filters is not None:
        first_conv = next((layer for layer in out if layer["type"] == "conv"), None)
        if first_conv is None:
            raise ValueError("parameter reduction needs an architecture with a conv layer")
        first_conv["filters"] = int(filters)
    if neurons is not None:
        first_dense = next((layer for layer in out if layer["type"] == "dense"), None)
        if first_dense is None:
            raise ValueError("parameter reduction needs an architecture with a dense layer")
        first_dense["units"] = int(neurons)
    return out


def _layer(spec: dict, index: int):
    import keras

    kind = spec["type"]
    name = f"{kind}_{index}"
    if kind == "conv":
        return keras.layers.Conv2D(
            spec["filters"],
            spec.get("kernel", 3),
            strides=spec.get("strides", 1),
            padding=spec.get("padding", "valid"),
            activation=spec.get("activation", "relu"),
            name=name,
        )
    if kind == "maxpool":
        return keras.layers.MaxPooling2D(spec.get("pool", 2), name=name)
    if kind == "flatten":
        return keras.layers.Flatten(name=name)
    if kind == "gap":
        return keras.layers.GlobalAveragePooling2D(name=name)
    if kind == "dense":
        return keras.layers.Dense(
            spec["units"], activation=spec.get("activation", "relu"), name=name
        )
    if kind == "dropout":
        return keras.layers.Dropout(spec["rate"], name=name)
    raise ValueError(f"unknown layer type {kind!r}; use one of {', '.join(LAYER_TYPES)}")


def input_layers(scale: float = 1.0, mean=None, std=None) -> list:
    """The layers that turn the raw 0..255 image into the network's input.

    Weightless, with the fold's statistics as constants; the reduction trainer runs them
    in its input pipeline instead, so that one traced graph serves every fold.
    """
    import keras

    mean = np.zeros(3) if mean is None else np.asarray(mean, dtype=np.float64)
    std = np.ones(3) if std is None else np.asarray(std, dtype=np.float64)
    layers = []
    if scale != 1.0:
        layers.append(keras.layers.Rescaling(scale, name="rescale"))
    if np.any(mean != 0) or np.any(std != 1):
        layers.append(keras.layers.Normalization(mean=mean, variance=std**2, name="featurewise"))
    return layers


def build_model(
    layers: list[dict],
    size: int,
    n_classes: int,
    scale: float = 1.0,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
    name: str = "classifier",
    backbone: dict | None = None,
    arch: str = "?",
):
    """Keras functional model: raw image -> rescale/normalise -> spec layers -> softmax.

    ``backbone`` (an architecture's ``backbone`` section) inserts the keras.applications
    backbone with its own preprocessing before the layers; ``arch`` names it in errors.
    """
    import keras

    inputs = keras.Input((size, size, 3), name="image")
    x = inputs
    for layer in input_layers(scale, mean, std):
        x = layer(x)
    if backbone is not None:
        from mobileclf.train.backbones import apply_backbone

        x = apply_backbone(backbone, x, size, arch)
    for index, spec in enumerate(layers):
        x = _layer(spec, index)(x)
    # float32 whatever the global policy: under mixed precision a float16 softmax loses
    # the small probabilities the loss and the metrics need
    outputs = keras.layers.Dense(
        n_classes, activation="softmax", name="probabilities", dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name=name)
