"""Train generators (seed 000, Table 1) as Keras preprocessing layers for tf.data.

A generator spec uses the names of Keras' legacy ``ImageDataGenerator`` so the paper's
settings can be copied verbatim. Geometric and brightness changes run in the tf.data
input pipeline on training batches only. ``rescale`` and the featurewise statistics are
*not* augmentation: they go inside the model (:func:`input_normalization`), so validation,
test and the exported TFLite model see exactly the same preprocessing.
"""

from __future__ import annotations

import math

import numpy as np

AUGMENTATION_KEYS = {
    "rotation_range",
    "brightness_range",
    "horizontal_flip",
    "vertical_flip",
    "zoom_range",
    "shear_range",
    "width_shift_range",
    "height_shift_range",
    "fill_mode",
}


def input_normalization(
    spec: dict, train_images: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Return (scale, mean, std) mapping raw 0..255 pixels to the model's input space.

    ``x' = (x * scale - mean) / std`` per channel, with mean/std from the fold's
    *training* images after rescaling (ImageDataGenerator.fit's featurewise statistics).
    """
    scale = float(spec.get("rescale", 1.0) or 1.0)
    mean = np.zeros(3, dtype=np.float64)
    std = np.ones(3, dtype=np.float64)
    if spec.get("featurewise_center") or spec.get("featurewise_std_normalization"):
        # two passes in float64 over a uint8 memory map: exact and bounded in memory
        pixels = train_images.reshape(-1, 3)
        count = pixels.shape[0]
        total = np.zeros(3)
        squares = np.zeros(3)
        for start in range(0, count, 1 << 20):
            block = pixels[start : start + (1 << 20)].astype(np.float64) * scale
            total += block.sum(axis=0)
            squares += (block**2).sum(axis=0)
        channel_mean = total / count
        channel_std = np.sqrt(np.maximum(squares / count - channel_mean**2, 0.0))
        if spec.get("featurewise_center"):
            mean = channel_mean
        if spec.get("featurewise_std_normalization"):
            std = channel_std + 1e-6
    return scale, mean, std


def augmentation_layers(spec: dict, seed: int) -> list:
    """Keras random layers equivalent to the spec's ImageDataGenerator augmentations."""
    import keras
    import tensorflow as tf

    fill = spec.get("fill_mode", "nearest")
    layers: list = []
    flips = [
        name
        for name, key in (("horizontal", "horizontal_flip"), ("vertical", "vertical_flip"))
        if spec.get(key)
    ]
    if flips:
        mode = "horizontal_and_vertical" if len(flips) == 2 else flips[0]
        layers.append(keras.layers.RandomFlip(mode, seed=seed + 1))
    if spec.get("rotation_range"):
        layers.append(
            keras.layers.RandomRotation(
                spec["rotation_range"] / 360.0, fill_mode=fill, seed=seed + 2
            )
        )
    if spec.get("width_shift_range") or spec.get("height_shift_range"):
        layers.append(
            keras.layers.RandomTranslation(
                spec.get("height_shift_range", 0.0),
                spec.get("width_shift_range", 0.0),
                fill_mode=fill,
                seed=seed + 3,
            )
        )
    if spec.get("zoom_range"):
        zoom = spec["zoom_range"]
        layers.append(keras.layers.RandomZoom((-zoom, zoom), fill_mode=fill, seed=seed + 4))
    if spec.get("shear_range"):
        # ImageDataGenerator's shear_range is an angle in degrees; RandomShear takes tan(angle)
        factor = math.tan(math.radians(spec["shear_range"]))
        layers.append(
            keras.layers.RandomShear(x_factor=factor, y_factor=0.0, fill_mode=fill, seed=seed + 5)
        )
    if spec.get("brightness_range"):
        low, high = spec["brightness_range"]
        generator = tf.random.Generator.from_seed(seed + 6)

        def brightness(images: tf.Tensor) -> tf.Tensor:
            # multiplicative, per image, as ImageEnhance.Brightness in ImageDataGenerator
            factors = generator.uniform([tf.shape(images)[0], 1, 1, 1], low, high)
            return tf.clip_by_value(images * factors, 0.0, 255.0)

        layers.append(brightness)
    return layers


def augment_fn(spec: dict, seed: int):
    """A tf.data map function applying the spec's augmentation to a float batch, or None."""
    layers = augmentation_layers(spec, seed)
    if not layers:
        return None

    import keras

    def apply(images, labels):
        for layer in layers:
            images = (
                layer(images, training=True)
                if isinstance(layer, keras.layers.Layer)
                else layer(images)
            )
        return images, labels

    return apply
