"""Keras → TensorFlow Lite conversion, one function per deployable variant.

Muneeb et al. (2022) (section 2.4) warns that phones need specific weight and input types or the app
crashes, so every variant has fixed, documented input/output types:

* ``float32``: plain conversion, float32 in (raw RGB 0..255) and out (probabilities);
* ``dynamic``: dynamic-range quantization, int8 weights, float32 in/out;
* ``int8``: full-integer quantization calibrated on training images, **uint8** in (the raw
  camera bytes) and uint8 out (probabilities × 255);
* ``float16``: float16 weights, float32 in/out (dequantized on the CPU, native on GPUs).

The model's rescale/normalisation layers are inside the graph, so the app feeds the raw
image and needs no hidden maths (see mobileclf.train.architectures).

Converter status (TensorFlow 2.20): the release deprecates the ``tf.lite`` module, moves
on-device development to LiteRT and says ``tf.lite`` will leave a future TensorFlow
package. In 2.20 ``tf.lite.TFLiteConverter`` is still the converter LiteRT documents for
TensorFlow/Keras models, with post-training quantization (dynamic range, float16, full
integer from a representative dataset) set exactly as below; only the interpreter moved,
and every model here already runs in LiteRT's (``ai_edge_litert``). docs/stack.md says
what changes when ``tf.lite`` leaves TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from mobileclf.errors import UserError

VARIANTS = ("float32", "dynamic", "int8", "float16")


class ConversionError(UserError):
    """A variant cannot be built as asked (unknown name, no calibration images)."""


@dataclass(frozen=True)
class VariantInfo:
    """What a phone app must know about a variant: tensor types it feeds and reads."""

    input_dtype: str
    output_dtype: str
    weights: str


VARIANT_INFO = {
    "float32": VariantInfo("float32", "float32", "float32"),
    "dynamic": VariantInfo("float32", "float32", "int8 (dynamic range)"),
    "int8": VariantInfo("uint8", "uint8", "int8 (full integer)"),
    "float16": VariantInfo("float32", "float32", "float16"),
}


def calibration_images(images: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded sample of up to ``count`` training images for int8 calibration, with the
    full 0..255 input range pinned.

    The converter sets the uint8 input's quantization from the smallest and largest pixel
    it sees during calibration. Only when that range is exactly 0..255 do the quantization
    parameters become scale 1, zero point 0, i.e. the raw camera bytes *are* the correct
    input (what the TFLite Task Library feeds a uint8 model). Real images nearly always
    contain both a black and a white pixel; to guarantee it, one pixel of the first sample
    is set to 0 and one to 255, a change too small to move any other calibrated range.
    """
    if len(images) == 0:
        raise ConversionError("int8 calibration needs training images, but none were given")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(images), size=min(count, len(images)), replace=False))
    sample = np.array(images[chosen], dtype=np.uint8)
    sample[0, 0, 0, :] = 0
    sample[0, -1, -1, :] = 255
    return sample


def _representative(sample: np.ndarray):
    def generate() -> Iterator[list[np.ndarray]]:
        for image in sample:
            yield [image[None].astype(np.float32)]

    return generate


def convert(model, variant: str, calibration: np.ndarray | None = None) -> bytes:
    """Return the flatbuffer of ``model`` converted as ``variant`` (see module docstring).

    ``calibration`` (uint8, N×S×S×3 training images) is needed for ``int8`` only.
    """
    import tensorflow as tf

    if variant not in VARIANT_INFO:
        raise ConversionError(
            f"unknown export variant {variant!r}; use one of {', '.join(VARIANTS)}"
        )
    # from_keras_model traces the Keras 3 model with its weights frozen into constants; a
    # hand-made concrete function keeps them as resource variables, which int8 calibration
    # cannot read (READ_VARIABLE fails).
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if calibration is None or len(calibration) == 0:
            raise ConversionError("the int8 variant needs calibration images (training images)")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    return bytes(converter.convert())
