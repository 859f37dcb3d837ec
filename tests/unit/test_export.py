"""Export stage: real TFLite variants of a tiny trained model, run in the LiteRT interpreter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from mobileclf.data.split import final_roles
from mobileclf.export.convert import VARIANT_INFO, VARIANTS, calibration_images, convert
from mobileclf.export.metadata import (
    PARSER_VERSION,
    GeneralFields,
    MetadataError,
    _minimum_parser_version,
    add_metadata,
    check_metadata,
    model_io,
    read_metadata,
)
from mobileclf.export.model_card import wilson_interval
from mobileclf.export.verify import (
    Comparison,
    VerificationError,
    check_float32,
    compare,
    run_tflite,
)
from mobileclf.train.final import FinalSpecError, resolve_spec

SIZE = 16
# deliberately not alphabetical: the packed labels must keep the training index order
LABELS = ["normal", "lesion", "artefact"]
FIELDS = GeneralFields(
    name="Tiny CT model",
    version="v7",
    description="Test model — a screening aid, not a diagnosis.",
    author="Test Author",
    license="CC-BY-4.0",
)


def _images(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Three easy classes (dark, mid, bright), pixels only in 40..200: without pinning the
    calibration range, the int8 input would not get scale 1 / zero point 0."""
    y = np.arange(count) % 3
    base = np.array([60.0, 120.0, 180.0])[y][:, None, None, None]
    noise = rng.normal(0, 8, (count, SIZE, SIZE, 3))
    return np.clip(base + noise, 40, 200).astype(np.uint8), y


@pytest.fixture(scope="module")
def trained():
    """A tiny model trained for real (rescale + featurewise normalisation inside)."""
    from mobileclf import tf_runtime

    tf_runtime.configure(1, 0)
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(0)
    images, y = _images(rng, 90)
    roles = np.array(["train"] * 60 + ["holdout"] * 30, dtype=object)
    generator = {
        "rescale": 1 / 255,
        "featurewise_center": True,
        "featurewise_std_normalization": True,
    }
    layers = [
        {"type": "conv", "filters": 4},
        {"type": "maxpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 8},
    ]
    settings = TrainSettings(epochs=6, batch_size=10, optimizer="adam", learning_rate=0.01)
    result = fit_and_evaluate(
        images, y, roles, LABELS, layers, generator, settings, 0, evaluate_role="holdout"
    )
    assert result.metrics["accuracy"] >= 0.9, "the tiny model must learn the easy classes"
    holdout = images[60:]
    keras_probs = result.model.predict(holdout.astype(np.float32), verbose=0)
    return {
        "model": result.model,
        "train": images[:60],
        "holdout": holdout,
        "y": y[60:],
        "keras_probs": keras_probs,
    }


@pytest.fixture(scope="module")
def variants(trained):
    calibration = calibration_images(trained["train"], 40, seed=1)
    return {v: convert(trained["model"], v, calibration) for v in VARIANTS}


@pytest.fixture
def labels_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("".join(f"{label}\n" for label in LABELS))
    return path


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_loads_with_promised_types_and_shapes(variants, trained, variant):
    io = model_io(variants[variant])
    info = VARIANT_INFO[variant]
    assert io["input"]["shape"] == [1, SIZE, SIZE, 3]
    assert io["output"]["shape"] == [1, len(LABELS)]
    assert io["input"]["dtype"] == info.input_dtype
    assert io["output"]["dtype"] == info.output_dtype
    if variant == "int8":
        assert (io["input"]["dtype"], io["output"]["dtype"]) == ("uint8", "uint8")
        # raw camera bytes are the correctly quantized input
        assert (io["input"]["scale"], io["input"]["zero_point"]) == (1.0, 0)
    probs = run_tflite(variants[variant], trained["holdout"])
    assert probs.shape == (len(trained["holdout"]), len(LABELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02 if variant == "int8" else 1e-3)


def test_quantized_variants_are_smaller(variants):
    sizes = {v: len(b) for v, b in variants.items()}
    assert sizes["dynamic"] < sizes["float32"]
    assert sizes["float16"] < sizes["float32"]
    assert sizes["int8"] < sizes["float32"]


def test_float32_matches_keras_and_quantized_report_small_drop(variants, trained):
    y, keras_probs = trained["y"], trained["keras_probs"]
    results = {
        v: compare(keras_probs, run_tflite(variants[v], trained["holdout"]), y) for v in VARIANTS
    }
    assert results["float32"].max_prob_diff <= 1e-4
    assert results["float32"].agreement == 1.0
    assert results["float32"].accuracy_delta == 0.0
    check_float32("float32", results["float32"], 1e-4)
    for variant in ("dynamic", "int8", "float16"):
        assert results[variant].agreement >= 0.9, variant
        assert results[variant].max_prob_diff < 0.2, variant
    # int8 outputs are multiples of 1/256: its difference cannot be float-small
    assert results["int8"].max_prob_diff > results["float32"].max_prob_diff


def test_float32_check_fails_loudly_naming_the_variant(trained):
    # a float32 file from a different model (e.g. a stale export) must not pass
    import keras

    other = keras.models.clone_model(trained["model"])
    probs = run_tflite(convert(other, "float32"), trained["holdout"])
    comparison = compare(trained["keras_probs"], probs, trained["y"])
    with pytest.raises(VerificationError, match=r"variant 'float32' differs .*export.tolerance"):
        check_float32("float32", comparison, 1e-4)
    ok = Comparison(
        agreement=1.0, accuracy=1.0, accuracy_delta=0.0, max_prob_diff=5e-5, mean_prob_diff=1e-6
    )
    check_float32("float32", ok, 1e-4)
    nan = Comparison(1.0, 1.0, 0.0, float("nan"), float("nan"))
    with pytest.raises(VerificationError):
        check_float32("float32", nan, 1e-4)


def test_calibration_sample_is_seeded_and_pins_full_range(trained):
    train = trained["train"]
    assert train.min() >= 40 and train.max() <= 200
    first = calibration_images(train, 20, seed=5)
    again = calibration_images(train, 20, seed=5)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (20, SIZE, SIZE, 3) and first.dtype == np.uint8
    assert first.min() == 0 and first.max() == 255
    assert len(calibration_images(train, 1000, seed=5)) == len(train)


@pytest.mark.parametrize("variant", VARIANTS)
def test_metadata_round_trips(variants, labels_file, variant):
    model = add_metadata(variants[variant], FIELDS, labels_file)
    back = read_metadata(model)
    for key in ("name", "version", "description", "author", "license"):
        assert back[key] == getattr(FIELDS, key)
    assert back["labels"] == LABELS  # training index order, not sorted
    assert back["label_file"] == "labels.txt" and back["associated_files"] == ["labels.txt"]
    assert back["input"]["norm_mean"] == [0.0, 0.0, 0.0]
    assert back["input"]["norm_std"] == [1.0, 1.0, 1.0]
    assert back["input"]["color_space"] == "RGB"
    assert back["input"]["dtype"] == VARIANT_INFO[variant].input_dtype
    assert back["input"]["min"][0] == 0.0 and back["input"]["max"][0] == 255.0
    assert back["n_classes"] == len(LABELS)
    assert back["min_parser_version"] == PARSER_VERSION == "1.0.0"  # as tflite-support wrote
    check_metadata(back, FIELDS, LABELS, SIZE, VARIANT_INFO[variant].input_dtype)
    # the metadata is only appended: the model computes exactly the same
    images = np.full((2, SIZE, SIZE, 3), 120, np.uint8)
    np.testing.assert_array_equal(run_tflite(model, images), run_tflite(variants[variant], images))


@pytest.mark.parametrize("variant", VARIANTS)
def test_mediapipe_image_classifier_reads_every_variant(variants, trained, labels_file, variant):
    """What an app reads: MediaPipe's ImageClassifier takes the class names from the packed
    metadata and feeds the image as the metadata says (raw RGB, identity normalisation), so
    its scores equal the variant's own in LiteRT."""
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    model = add_metadata(variants[variant], FIELDS, labels_file)
    images = trained["holdout"][:6]
    litert = run_tflite(model, images)
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_buffer=model), max_results=-1
    )
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image, probs in zip(images, litert, strict=True):
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            (head,) = classifier.classify(frame).classifications
            by_index = {c.index: c for c in head.categories}
            assert sorted(by_index) == list(range(len(LABELS)))
            assert [by_index[i].category_name for i in range(len(LABELS))] == LABELS
            scores = [by_index[i].score for i in range(len(LABELS))]
            np.testing.assert_allclose(scores, probs, atol=1e-5)
            assert head.categories[0].index == int(np.argmax(probs))


def test_parser_version_stand_in_refuses_later_fields(variants, labels_file):
    """The stand-in for MediaPipe's missing native module stamps 1.0.0 only on metadata it
    can vouch for; a later schema field (here subgraph-level process units, 1.1.0) is
    refused rather than stamped with a version older apps would misparse."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema
    from mediapipe.tasks.python.metadata import metadata

    buffer = metadata.MetadataDisplayer.with_model_buffer(
        add_metadata(variants["float32"], FIELDS, labels_file)
    ).get_metadata_buffer()
    assert _minimum_parser_version(buffer) == PARSER_VERSION
    model_md = schema.ModelMetadataT.InitFromObj(
        schema.ModelMetadata.GetRootAsModelMetadata(buffer, 0)
    )
    unit = schema.ProcessUnitT()
    unit.optionsType = schema.ProcessUnitOptions.NormalizationOptions
    unit.options = schema.NormalizationOptionsT()
    model_md.subgraphMetadata[0].inputProcessUnits = [unit]
    import flatbuffers

    builder = flatbuffers.Builder(0)
    builder.Finish(model_md.Pack(builder), b"M001")
    with pytest.raises(MetadataError, match=r"subgraph inputProcessUnits, beyond schema 1\.0\.0"):
        _minimum_parser_version(bytes(builder.Output()))


def test_check_metadata_names_every_mismatch(variants, labels_file):
    back = read_metadata(add_metadata(variants["float32"], FIELDS, labels_file))
    with pytest.raises(MetadataError, match=r"packed labels .* differ from training order"):
        check_metadata(back, FIELDS, sorted(LABELS), SIZE, "float32")
    other = GeneralFields(**{**FIELDS.__dict__, "version": "v8"})
    with pytest.raises(MetadataError, match=r"version: wrote 'v8', read 'v7'"):
        check_metadata(back, other, LABELS, SIZE, "float32")
    with pytest.raises(MetadataError, match=r"input dtype float32 is not uint8"):
        check_metadata(back, FIELDS, LABELS, SIZE, "uint8")
    with pytest.raises(MetadataError, match=r"input shape"):
        check_metadata(back, FIELDS, LABELS, SIZE + 1, "float32")


def test_mismatching_labels_file_is_refused(variants, tmp_path):
    two = tmp_path / "two_labels.txt"
    two.write_text("normal\nlesion\n")
    with pytest.raises(
        MetadataError, match=r"two_labels.txt has 2 label\(s\) but the model has 3 output"
    ):
        add_metadata(variants["int8"], FIELDS, two)
    duplicated = tmp_path / "dup.txt"
    duplicated.write_text("normal\nlesion\nnormal\n")
    with pytest.raises(MetadataError, match="lists normal more than once"):
        add_metadata(variants["int8"], FIELDS, duplicated)


def test_add_metadata_cli_refuses_mismatch_with_one_clear_line(variants, tmp_path):
    (tmp_path / "plain.tflite").write_bytes(variants["float32"])
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "spec.json").write_text('{"labels": ["a", "b"], "size": 16}')
    fields = '{"name": "n", "version": "1", "description": "d", "author": "a", "license": "l"}'
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "add_metadata.py"),
            "--model",
            "plain.tflite",
            "--spec",
            "spec.json",
            "--labels",
            "labels.txt",
            "--variant",
            "float32",
            "--metadata",
            fields,
            "--out",
            "model.tflite",
            "--read-back",
            "back.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "labels.txt has 2 label(s) but the model has 3 output classes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "model.tflite").exists()


def test_final_roles_use_every_non_holdout_image():
    splits = pd.DataFrame(
        {
            "path": [f"{i}.png" for i in range(40)],
            "label": ["a", "b"] * 20,
            "group": [""] * 40,
            "set": ["holdout"] * 6 + ["cv"] * 34,
        }
    )
    roles = final_roles(splits, 0.0, seed=1)
    assert (roles[:6] == "holdout").all() and (roles[6:] == "train").all()
    with_val = final_roles(splits, 0.2, seed=1)
    assert (with_val[:6] == "holdout").all()
    val = splits.label[with_val == "val"]
    assert len(val) == 7 and set(val) == {"a", "b"}  # stratified, ceil(0.2 * 34)
    np.testing.assert_array_equal(with_val, final_roles(splits, 0.2, seed=1))


def test_final_spec_prefers_reduced_layers():
    architectures = {"m": {"layers": [{"type": "conv", "filters": 32}, {"type": "flatten"}]}}
    generators = {"g1": {"rescale": 1 / 255}}
    chosen = {"arch": "m", "generator": "g1", "size": 30}
    assert (
        resolve_spec(chosen, architectures, generators, "selection.json")["layers"][0]["filters"]
        == 32
    )
    reduced = {**chosen, "layers": [{"type": "conv", "filters": 4}, {"type": "flatten"}]}
    spec = resolve_spec(reduced, architectures, generators, "x/reduction.json")
    assert spec["layers"][0]["filters"] == 4 and spec["source"] == "reduction.json"
    with pytest.raises(FinalSpecError, match="architecture 'gone'"):
        resolve_spec({**chosen, "arch": "gone"}, architectures, generators, "selection.json")


def test_wilson_interval():
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-3)
    low, high = wilson_interval(45, 50)
    assert low == pytest.approx(0.7864, abs=1e-3) and high == pytest.approx(0.9565, abs=1e-3)


def test_a_model_xnnpack_refuses_stops_with_the_reason_and_runs_without_it(tmp_path):
    """An int8 model with a collapsed range (a 1x1 conv of weights +1e4/-1e4 on two equal
    channels: output always 0, so the requantization scale is out of XNNPACK's range) is
    refused by XNNPACK, as on a phone: verification says so in one message naming the cause
    and the way out, not LiteRT's bare RuntimeError; LiteRT's builtin kernels still run it."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((2, 2, 2))
    weights = keras.initializers.Constant([[[[1e4], [-1e4]]]])
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=weights)(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(8):
            channel = rng.random((1, 2, 2, 1)).astype(np.float32)
            yield [np.concatenate([channel, channel], axis=-1)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    flatbuffer = converter.convert()
    images = np.zeros((1, 2, 2, 2), dtype=np.uint8)
    with pytest.raises(VerificationError, match=r"XNNPACK .* refuses to prepare this model") as e:
        run_tflite(flatbuffer, images)
    assert "collapsed in training" in str(e.value) and "Traceback" not in str(e.value)
    probabilities = run_tflite(flatbuffer, images, delegates=False)
    assert probabilities.shape == (1, 2) and probabilities.sum() == pytest.approx(1, abs=0.01)
    # the phone tests and the latency job open models through the same function
    from mobileclf.mobile.latency import LatencySettings, measure
    from mobileclf.mobile.predict import predict_tflite

    path = tmp_path / "model_int8.tflite"
    path.write_bytes(flatbuffer)
    with pytest.raises(VerificationError, match=r"refuses to prepare this model"):
        predict_tflite(path, images, [0.0], [1.0])
    with pytest.raises(VerificationError, match=r"model_int8\.tflite: LiteRT's XNNPACK"):
        measure(path, LatencySettings(threads=(1,), warmup=0, runs=1))
