"""Backbone checks shared by both lanes: the quick backbone's in tests/unit, the others'
(minutes each: int8 conversion of a full-size network) in tests/workflow."""

import numpy as np
import pytest

from mobileclf.train.fit import TrainSettings, fit_and_evaluate

HEAD = [{"type": "gap"}, {"type": "dense", "units": 8}, {"type": "dropout", "rate": 0.2}]
QUICK = "MobileNetV3Small"  # the others take minutes each: tests/workflow


def _images(n: int = 14, size: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 140, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % 2
    images[y == 1, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 240
    roles = np.array(["train"] * (n - 4) + ["val"] * 2 + ["test"] * 2)
    return images, y, roles


def _backbone(name: str, weights: str = "none", **extra) -> dict:
    return {"name": name, "weights": weights, "trainable_layers": 20, "head_epochs": 1,
            "fine_tune_lr_factor": 0.1, **extra}  # fmt: skip


def check_trains_and_runs_as_int8_tflite(name: str) -> None:
    """Each backbone goes through the export stage's own conversion and verification code:
    float32 within export.tolerance of Keras, int8 with uint8 in/out close to it."""
    import keras
    from ai_edge_litert.interpreter import Interpreter

    from mobileclf.export.convert import calibration_images, convert
    from mobileclf.export.verify import VerificationError, check_float32, compare, run_tflite

    images, y, roles = _images(n=14)
    settings = TrainSettings.from_config(dict(epochs=1, batch_size=5, learning_rate=0.01))
    result = fit_and_evaluate(
        images, y, roles, ["a", "b"], HEAD, {}, settings, 0, backbone=_backbone(name)
    )
    assert result.metrics["phases"][0]["phase"] == "full"  # weights none: trained from scratch
    norms = [
        layer.momentum
        for layer in result.model.get_layer("backbone").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and max(norms) <= 0.9  # moving statistics can follow a few hundred steps
    assert result.metrics["n_test"] == 2 and 0 <= result.metrics["accuracy"] <= 1
    test = images[-4:]
    keras_probabilities = result.model.predict(test.astype(np.float32), verbose=0)
    float32_probabilities = run_tflite(convert(result.model, "float32"), test)
    float32 = compare(keras_probabilities, float32_probabilities, y[-4:])
    check_float32("float32", float32, 1e-4)  # raises VerificationError beyond the tolerance
    flatbuffer = convert(result.model, "int8", calibration_images(images[:10], 8, 0))
    interpreter = Interpreter(model_content=flatbuffer, num_threads=1)
    (source,), (target,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert source["dtype"] == np.uint8 and list(source["shape"]) == [1, 32, 32, 3]
    assert target["dtype"] == np.uint8 and list(target["shape"]) == [1, 2]
    try:
        int8 = run_tflite(flatbuffer, test)
    except VerificationError as refused:
        # One epoch from scratch on 10 images: a deep network can collapse a layer's range
        # (ResNet101 once, in a CI run on a loaded machine; not in 3 reruns: TF's reductions
        # are nondeterministic) and XNNPACK then refuses the int8 model with our message
        # (verify.XNNPACK_REFUSED).
        # The conversion itself is still checked, in LiteRT's builtin kernels.
        assert "refuses to prepare this model" in str(refused)
        int8 = run_tflite(flatbuffer, test, delegates=False)
    assert int8.sum(axis=1) == pytest.approx(np.ones(4), abs=0.02)
    assert compare(keras_probabilities, int8, y[-4:]).max_prob_diff < 0.15
