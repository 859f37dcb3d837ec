"""Transfer-learning backbones: preprocessing inside the model, weights handling with clear
errors, two-phase fine-tuning, the quick backbone's int8 TFLite conversion (the others and
the grid through Snakemake: tests/workflow/test_backbones_run.py).

All on the CPU with ``weights: none`` (or a local file made here): ImageNet weights cannot
be downloaded on the CI machines. Inputs are 32 px, the smallest every backbone accepts.
"""

import logging

import numpy as np
import pytest
from backbone_checks import (
    HEAD,
    QUICK,
    _backbone,
    _images,
    check_trains_and_runs_as_int8_tflite,
)

from mobileclf.errors import UserError
from mobileclf.train.backbones import (
    BackboneSpec,
    build_backbone,
    ignored_generator_keys,
)
from mobileclf.train.fit import TrainSettings, fit_and_evaluate


@pytest.mark.parametrize(
    ("name", "module"),
    [("MobileNetV2", "mobilenet_v2"), ("NASNetMobile", "nasnet"), ("ResNet101", "resnet")],
)
def test_preprocessing_layer_equals_keras_preprocess_input(name, module, tmp_path):
    import keras

    from mobileclf.train.backbones import _preprocess

    raw = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 3)).astype(np.float32)
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, _preprocess(name, inputs))
    expected = getattr(keras.applications, module).preprocess_input(raw.copy())
    np.testing.assert_allclose(model.predict(raw, verbose=0), expected, atol=1e-4)
    model.save(tmp_path / "m.keras")  # built-in layers only: loads without mobileclf code
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(raw, verbose=0), expected, atol=1e-4)


def test_mobilenetv3_and_efficientnet_normalise_inside_keras_model():
    import keras

    small = build_backbone(_backbone("MobileNetV3Small"), 32)
    rescale = small.layers[1]
    assert isinstance(rescale, keras.layers.Rescaling)
    assert (rescale.scale, rescale.offset) == pytest.approx((1 / 127.5, -1.0))
    efficient = build_backbone(_backbone("EfficientNetB0"), 32)
    assert isinstance(efficient.layers[1], keras.layers.Rescaling)
    assert efficient.layers[1].scale == pytest.approx(1 / 255)
    assert isinstance(efficient.layers[2], keras.layers.Normalization)


def test_generator_normalisation_is_ignored_for_backbones_with_a_warning(caplog):
    spec = BackboneSpec.from_config(_backbone("MobileNetV2"))
    generator = {"rescale": 1 / 255, "featurewise_center": True, "rotation_range": 10}
    with caplog.at_level(logging.WARNING):
        assert ignored_generator_keys(generator, spec) == ["rescale", "featurewise_center"]
    assert "rescale, featurewise_center are ignored for backbone MobileNetV2" in caplog.text
    assert ignored_generator_keys({"rotation_range": 10}, spec) == []


def test_unfetchable_imagenet_weights_are_an_error_naming_key_and_fix(monkeypatch, tmp_path):
    import urllib.error

    from keras.src.backend import config as keras_config
    from keras.src.utils import file_utils

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(keras_config, "keras_home", lambda: str(tmp_path))  # empty cache
    monkeypatch.setattr(file_utils, "urlretrieve", offline)
    with pytest.raises(UserError) as error:
        build_backbone(_backbone("MobileNetV3Small", "imagenet"), 32, arch="mnv3")
    message = str(error.value)
    assert message.startswith("architectures.mnv3.backbone.weights: imagenet")
    assert "cannot be downloaded" in message and "KERAS_HOME" in message
    assert "none to train from scratch" in message


@pytest.mark.parametrize(
    ("spec", "size", "match"),
    [
        (_backbone("MobileNetV2", "missing.weights.h5"), 32, r"file missing\.weights\.h5 does"),
        (_backbone("EfficientNetB0", "efficientnetb0_notop.h5"), 32, "use weights: imagenet"),
        (_backbone("MobileNetV2"), 24, "needs images of at least 32 px, not 24"),
        (_backbone("ResNet101", alpha=0.5), 32, "alpha applies to"),
    ],
)
def test_bad_backbone_settings_are_clear_errors(spec, size, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "efficientnetb0_notop.h5").write_bytes(b"")
    with pytest.raises(UserError, match=match):
        build_backbone(spec, size, arch="x")


def test_weights_of_another_backbone_are_a_clear_error(tmp_path):
    import keras

    path = tmp_path / "small.weights.h5"
    keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    ).save_weights(path)
    with pytest.raises(UserError, match=r"small\.weights\.h5 does not fit MobileNetV2"):
        build_backbone(_backbone("MobileNetV2", str(path)), 32, arch="x")


def test_two_phase_fine_tuning_freezes_then_unfreezes_the_last_layers(tmp_path):
    import keras

    path = tmp_path / "pretrained.weights.h5"
    keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=(64, 64, 3)
    ).save_weights(path)  # "pretrained" weights from another input size, as ImageNet's
    images, y, roles = _images()
    settings = TrainSettings.from_config(
        dict(epochs=3, batch_size=5, optimizer="sgd", learning_rate=0.05, momentum=0.9,
             schedule={"type": "step", "step_size": 1, "gamma": 0.5})
    )  # fmt: skip
    spec = _backbone("MobileNetV3Small", str(path), trainable_layers=12)
    # a linear head: a ReLU head can die in phase 1 at this learning rate (all 8 units off
    # for every image; one CI run in many, TF's sums being nondeterministic), and then no
    # gradient reaches the unfrozen layers and the loss sits at ln 2: not what is tested
    head = [
        {**layer, "activation": "linear"} if layer["type"] == "dense" else layer for layer in HEAD
    ]
    result = fit_and_evaluate(
        images, y, roles, ["a", "b"], head, {"rescale": 1 / 255}, settings, 0, backbone=spec
    )
    history = result.history
    assert history.phase.tolist() == ["head", "fine_tune", "fine_tune"]
    # phase 2 starts at learning_rate * fine_tune_lr_factor; StepLR restarts in each phase
    assert history.learning_rate.tolist() == pytest.approx([0.05, 0.005, 0.0025])
    head, fine = result.metrics["phases"]
    assert head["trainable_params"] == 576 * 8 + 8 + 8 * 2 + 2  # dense + softmax only
    assert fine["trainable_params"] > head["trainable_params"]
    assert result.metrics["ignored_generator_keys"] == ["rescale"]
    assert result.metrics["input_scale"] == 1.0

    trained = result.model.get_layer("backbone")
    assert trained.get_layer("expanded_conv_project_bn").momentum == 0.999  # Keras' own
    reference = build_backbone(spec, 32)
    layers = [la for la in trained.layers if not isinstance(la, keras.layers.InputLayer)]
    ref_layers = [la for la in reference.layers if not isinstance(la, keras.layers.InputLayer)]
    changed = [
        not all(np.array_equal(a, b) for a, b in zip(t.get_weights(), r.get_weights(), strict=True))
        for t, r in zip(layers, ref_layers, strict=True)
    ]
    unfrozen = [
        i >= len(layers) - 12 and not isinstance(la, keras.layers.BatchNormalization)
        for i, la in enumerate(layers)
    ]
    with_weights = [bool(la.weights) for la in layers]
    assert not any(c for c, u in zip(changed, unfrozen, strict=True) if not u)  # frozen stayed
    assert any(c for c, u, w in zip(changed, unfrozen, with_weights, strict=True) if u and w)
    # the fine-tuned model saves and loads with Keras alone (the export stage's model.keras)
    result.model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    batch = images[:4].astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict(batch, verbose=0), result.model.predict(batch, verbose=0), atol=1e-5
    )


def test_backbone_trains_and_runs_as_int8_tflite():
    """The quick backbone through the export stage's conversion and verification code; the
    others (minutes each) in tests/workflow/test_backbones_run.py."""
    check_trains_and_runs_as_int8_tflite(QUICK)
