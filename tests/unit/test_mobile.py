"""The mobile stage's inference, latency, tables, verdict and report (the emulated input
paths: test_camera.py; the stage in the workflow: tests/workflow/test_mobile_run.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import TableCollector
from PIL import Image

from mobileclf.mobile.predict import (
    KERAS,
    MobileInputError,
    app_normalization,
    holdout_rows,
    prediction_frame,
)
from mobileclf.mobile.tables import mobile_table
from mobileclf.mobile.verdict import decide
from mobileclf.report.blocks import wilson_interval
from mobileclf.report.inputs import ReportInputs
from mobileclf.report.render import render_html, render_markdown
from mobileclf.report.sections import build_sections, camera_drop_table

# --- inference and latency on a real tiny TFLite model --------------------------------


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory) -> dict:
    """A tiny Keras model (16 px, raw 0..255 input) and its float32 and int8 TFLite files."""
    from mobileclf import tf_runtime

    tf_runtime.configure(1, 0)
    import tensorflow as tf

    from mobileclf.train.architectures import build_model

    folder = tmp_path_factory.mktemp("tiny_tflite")
    layers = [
        {"type": "conv", "filters": 4},
        {"type": "maxpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 8},
    ]
    model = build_model(layers, 16, 2, 1 / 255)
    images = np.random.default_rng(0).integers(0, 256, (24, 16, 16, 3)).astype(np.uint8)
    paths = {"keras": folder / "model.keras", "images": images}
    model.save(paths["keras"])
    for variant in ("float32", "int8"):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if variant == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: (
                [images[i : i + 1].astype(np.float32)] for i in range(24)
            )
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.uint8
            converter.inference_output_type = tf.uint8
        paths[variant] = folder / f"model_{variant}.tflite"
        paths[variant].write_bytes(converter.convert())
    return paths


def test_tflite_variants_predict_like_keras(tiny_tflite):
    from mobileclf.mobile.predict import predict_keras, predict_tflite

    images = tiny_tflite["images"]
    keras_probs = predict_keras(tiny_tflite["keras"], images)
    float_probs = predict_tflite(tiny_tflite["float32"], images, [0.0], [1.0])
    int8_probs = predict_tflite(tiny_tflite["int8"], images, [0.0], [1.0])
    assert float_probs.shape == (24, 2)
    assert np.abs(float_probs - keras_probs).max() < 1e-4
    assert np.abs(int8_probs - keras_probs).max() < 0.1  # 8-bit output steps are 1/256
    assert np.allclose(int8_probs.sum(axis=1), 1, atol=0.02)


def test_latency_is_measured_in_a_fresh_process(tiny_tflite, monkeypatch):
    import subprocess as subprocess_module

    from mobileclf.mobile.latency import LatencySettings, measure

    children = []

    class RecordingPopen(subprocess_module.Popen):
        """The real Popen, noting every child it starts (pid, argv) and how it ended."""

        def __init__(self, args, *rest, **options):
            super().__init__(args, *rest, **options)
            children.append(self)

    monkeypatch.setattr(subprocess_module, "Popen", RecordingPopen)
    rows = measure(tiny_tflite["float32"], LatencySettings(threads=(1, 2), warmup=2, runs=20))
    assert [r["threads"] for r in rows] == [1, 2]
    # one new interpreter process per thread count, none of them this one, each finished
    assert len(children) == 2
    assert len({child.pid for child in children} | {os.getpid()}) == 3
    for child, row in zip(children, rows, strict=True):
        assert child.args[0] == sys.executable and child.returncode == 0
        assert f"_measure({str(tiny_tflite['float32'])!r}, {row['threads']}," in child.args[-1]
    for row in rows:
        assert 0 < row["median_ms"] <= row["p90_ms"] < 1000
        assert row["runs"] == 20 and row["load_ms"] > 0
        assert row["model_bytes"] == tiny_tflite["float32"].stat().st_size
        assert row["peak_rss_delta_mb"] >= 0 and np.isfinite(row["rss_delta_mb"])
        assert row["input_dtype"] == "float32"


# --- tables and verdict ---------------------------------------------------------------


def synthetic_predictions(camera_correct: list[int], gallery_correct: int = 10) -> pd.DataFrame:
    """10 holdout images (5 per class); each path gets the first k images right."""
    splits = pd.DataFrame(
        {
            "path": [f"{c}/{i}.png" for c in ("a", "b") for i in range(5)],
            "label": ["a"] * 5 + ["b"] * 5,
            "set": "holdout",
        }
    )
    holdout = holdout_rows(splits, ["a", "b"], 3, seed=1)
    frames = []

    def probs(correct: int) -> np.ndarray:
        right = np.eye(2)[holdout.y.to_numpy()]
        right[correct:] = 1 - right[correct:]
        return right

    for variant in (KERAS, "float32", "int8"):
        frames.append(prediction_frame(holdout, variant, "computer", None, probs(10)))
        frames.append(prediction_frame(holdout, variant, "gallery", None, probs(gallery_correct)))
        for severity, correct in enumerate(camera_correct):
            frames.append(prediction_frame(holdout, variant, "camera", severity, probs(correct)))
    return pd.concat(frames, ignore_index=True)


def test_phone_test_takes_n_per_class_deterministically():
    splits = pd.DataFrame(
        {
            "path": [f"{c}/{i}.png" for c in ("a", "b") for i in range(9)],
            "label": ["a"] * 9 + ["b"] * 9,
            "set": ["holdout", "cv"] * 9,
        }
    )
    first = holdout_rows(splits, ["a", "b"], 3, seed=1)
    assert len(first) == 9 and first.phone_test.sum() == 6
    assert first.groupby("label").phone_test.sum().tolist() == [3, 3]
    again = holdout_rows(splits.iloc[::-1].reset_index(drop=True), ["a", "b"], 3, seed=1)
    assert set(first.path[first.phone_test]) == set(again.path[again.phone_test])


def test_mobile_table_accuracy_and_drop():
    table = mobile_table(synthetic_predictions([10, 8, 5]), ["a", "b"], positive_index=1)
    holdout = table[table.subset == "holdout"]
    assert list(holdout.columns) == [
        "subset",
        "variant",
        "path",
        "severity",
        "n_images",
        "accuracy",
        "macro_f1",
        "sensitivity",
        "specificity",
        "drop_vs_computer",
        "n_correct",
        "accuracy_low",
        "accuracy_high",
        "drop_low",
        "drop_high",
        "drop_p_value",
        "litert_agreement",  # issue 16: path mediapipe rows only
        "litert_agreement_same_input",
    ]
    assert holdout.litert_agreement.isna().all()  # no mediapipe rows here
    camera = holdout[(holdout.variant == "int8") & (holdout.path == "camera")]
    assert camera.accuracy.tolist() == [1.0, 0.8, 0.5]
    assert camera.drop_vs_computer.round(6).tolist() == [0.0, 0.2, 0.5]
    assert (holdout.n_images == 10).all()
    assert (table[table.subset == "phone_test"].n_images == 6).all()
    wide = camera_drop_table(table)
    assert wide.loc[wide.variant == "float32", "drop_s2"].iloc[0] == pytest.approx(0.5)


def test_verdict_says_no_and_points_to_augmentation_when_the_camera_fails():
    table = mobile_table(synthetic_predictions([10, 6, 5]), ["a", "b"], 1)
    verdict = decide(
        table,
        {"gallery_accuracy": 0.85, "camera_accuracy": 0.8, "camera_severity": 1},
        {"generator": "g1", "size": 32},
        {"rescale": 1 / 255},
        None,
        {"float32": 1000, "int8": 300},
    )
    assert verdict["deployable"] is False and verdict["recommended_variant"] is None
    actions = [step["action"] for step in verdict["next_steps"]]
    assert actions == [
        "phone-path generator (phone_views)",
        "generator with brightness and rotation",
        "other image size (larger)",
        "more holdout images",
    ]
    assert "60%" in verdict["next_steps"][1]["because"]
    assert verdict["camera_by_severity"]["int8"] == {"0": 1.0, "1": 0.6, "2": 0.5}


def test_verdict_for_a_phone_generator_proposes_size_and_capacity_not_brightness():
    """A phone_views generator already trains on the camera's light and tilt: the verdict
    does not tell it to add Table 1's brightness and rotation (nor to use a phone-path
    generator), but a larger size and a bigger model, with the measured camera accuracy."""
    table = mobile_table(synthetic_predictions([10, 6, 5]), ["a", "b"], 1)
    limits = {"gallery_accuracy": 0.85, "camera_accuracy": 0.8, "camera_severity": 1}
    phone = {"rescale": 1 / 255, "phone_views": {"views": 8}}
    verdict = decide(table, limits, {"generator": "phone", "size": 32}, phone, None, {})
    actions = [step["action"] for step in verdict["next_steps"]]
    assert actions == ["other image size (larger)", "bigger model", "more holdout images"]
    assert (
        "'phone' already trains on the phone's gallery and camera views"
        in (verdict["next_steps"][1]["because"])
    )
    assert "60%" in verdict["next_steps"][1]["because"]
    # at 128 px the size step goes; a Table 1 generator at 32 px is not offered a bigger model
    large = decide(table, limits, {"generator": "phone", "size": 128}, phone, None, {})
    assert [s["action"] for s in large["next_steps"]][:1] == ["bigger model"]
    g3 = {"brightness_range": [0.2, 1], "rotation_range": 40}
    small = decide(table, limits, {"generator": "g3", "size": 32}, g3, None, {})
    assert "bigger model" not in [s["action"] for s in small["next_steps"]]
    # the Keras model itself below the gallery threshold: "bigger model" is said once, first
    predictions = synthetic_predictions([10, 6, 5])
    wrong = (predictions.variant == KERAS) & (predictions.path == "computer")
    wrong &= predictions.image.isin(["a/0.png", "a/1.png", "b/0.png"])
    predictions.loc[wrong, "predicted"] = 1 - predictions.loc[wrong, "y"]
    predictions.loc[wrong, ["prob_0", "prob_1"]] = predictions.loc[
        wrong, ["prob_1", "prob_0"]
    ].values
    weak = mobile_table(predictions, ["a", "b"], 1)
    verdict = decide(weak, limits, {"generator": "phone", "size": 32}, phone, None, {})
    actions = [step["action"] for step in verdict["next_steps"]]
    assert actions[0] == "bigger model or more data" and "bigger model" not in actions
    assert "70%" in verdict["next_steps"][0]["because"]  # 7 of 10 on the computer path


def test_verdict_recommends_the_smallest_passing_file():
    table = mobile_table(synthetic_predictions([10, 9, 5]), ["a", "b"], 1)
    verdict = decide(  # thresholds that 10/10 and 9/10 clear with their 95% intervals
        table,
        {"gallery_accuracy": 0.7, "camera_accuracy": 0.5, "camera_severity": 1},
        {"generator": "g3", "size": 128},
        {"brightness_range": [0.2, 1], "rotation_range": 40},
        None,
        {"float32": 1000, "int8": 300},
    )
    assert verdict["deployable"] is True and verdict["recommended_variant"] == "int8"
    assert verdict["next_steps"] == []


def test_plots_are_png_files_at_the_given_paths(tmp_path, monkeypatch):
    from scipy import ndimage

    from mobileclf.mobile.tables import plot_contact_sheet, plot_robustness

    monkeypatch.chdir(tmp_path)
    table = mobile_table(synthetic_predictions([10, 8, 5]), ["a", "b"], 1)
    plot_robustness(table, tmp_path / "robustness.png", "title")
    # solid colours, so every panel can be found in the picture: originals red, camera
    # frames green, model inputs blue (2 examples x 2 severities)
    frames = {s: np.full((2, 32, 24, 3), (0, 255, 0), np.uint8) for s in (0, 1)}
    inputs = {s: np.full((2, 8, 8, 3), (0, 0, 255), np.uint8) for s in (0, 1)}
    originals = [np.full((16, 16, 3), (255, 0, 0), np.uint8)] * 2
    plot_contact_sheet(originals, frames, inputs, ["a", "b"], tmp_path / "sheet.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["robustness.png", "sheet.png"]
    with Image.open(tmp_path / "robustness.png") as image:
        assert image.format == "PNG" and image.size == (770, 462)  # 7 x 4.2 in at 110 dpi
        pixels = np.asarray(image.convert("RGB"))
    assert (pixels.sum(axis=2) < 600).mean() > 0.01  # not blank: axes, text, curves
    # one colour per variant (keras, float32, int8: matplotlib's first three), each drawn
    for colour in ([0x1F, 0x77, 0xB4], [0xFF, 0x7F, 0x0E], [0x2C, 0xA0, 0x2C]):
        assert (pixels == colour).all(axis=2).sum() > 20, colour
    with Image.open(tmp_path / "sheet.png") as image:
        assert image.format == "PNG" and image.size == (800, 400)  # 5 columns x 2 rows
        pixels = np.asarray(image.convert("RGB"))
    for colour, panels in (([255, 0, 0], 2), ([0, 255, 0], 4), ([0, 0, 255], 4)):
        regions, _ = ndimage.label((pixels == colour).all(axis=2))
        sizes = np.bincount(regions.ravel())[1:]
        assert (sizes > 200).sum() == panels, (colour, sorted(sizes))


# --- the report -----------------------------------------------------------------------


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (120, 80), colour).save(path)


@pytest.fixture
def report_results(tmp_path) -> tuple[Path, Path]:
    """A results/<dataset> folder with every file the report reads (small and synthetic)."""
    results, bench = tmp_path / "results" / "ds", tmp_path / "benchmarks"
    (results / "tables").mkdir(parents=True)
    (results / "final").mkdir()
    pd.DataFrame(
        {
            "path": ["a/1.png", "b/1.png", "b/x.txt"],
            "label": ["a", "b", "b"],
            "width": [64, 96, 0],
            "height": [64, 96, 0],
            "status": ["ok", "ok", "rejected"],
            "reason": ["", "", "not an image"],
        }
    ).to_csv(results / "manifest.csv", index=False)
    pd.DataFrame(
        {
            "path": ["a/1.png", "b/1.png"],
            "label": ["a", "b"],
            "group": ["", ""],
            "set": ["holdout", "cv"],
        }
    ).to_csv(results / "splits.csv", index=False)
    pd.DataFrame(
        {
            "arch": ["m1", "m1"],
            "generator": ["g1", "g3"],
            "size": [32, 32],
            "mean_accuracy": [0.9, 0.8],
            "std_accuracy": [0.01, 0.02],
            "accuracy_text": ["90.00 (+- 1.00)", "80.00 (+- 2.00)"],
        }
    ).to_csv(results / "tables" / "cv_summary.csv", index=False)
    _png(results / "plots" / "cv_heatmap.png", (200, 30, 30))
    (results / "selection.json").write_text(
        json.dumps(
            {
                "arch": "m1",
                "generator": "g1",
                "size": 32,
                "mean_accuracy": 0.9,
                "candidates": 2,
                "note": "n",
            }
        )
    )
    (results / "reduction.json").write_text(json.dumps({"filters": 4, "neurons": 8, "layers": []}))
    _png(results / "plots" / "reduction_curve.png", (30, 200, 30))
    pd.DataFrame({"filters": [4, 8], "neurons": [8, 8], "mean_accuracy": [0.88, 0.9]}).to_csv(
        results / "tables" / "reduction.csv", index=False
    )
    (results / "final" / "spec.json").write_text(json.dumps({"arch": "m1", "size": 32}))
    (results / "final" / "metrics.json").write_text(json.dumps({"accuracy": 0.85, "per_class": {}}))
    pd.DataFrame(
        {"variant": ["float32", "int8"], "bytes": [1000, 300], "agreement": [1.0, 0.98]}
    ).to_csv(results / "tables" / "export.csv", index=False)
    predictions = synthetic_predictions([10, 6, 5])
    table = mobile_table(predictions, ["a", "b"], 1)
    table.to_csv(results / "tables" / "mobile.csv", index=False)
    pd.DataFrame(
        {
            "image": ["a/1.png"],
            "label": ["a"],
            "keras/computer": ["a"],
            "int8/gallery": ["b"],
            "float32/camera1": ["b"],
        }
    ).to_csv(results / "tables" / "phone_test.csv", index=False)
    pd.DataFrame(
        {
            "variant": ["float32", "float32"],
            "threads": [1, 4],
            "median_ms": [0.5, 0.3],
            "p90_ms": [0.6, 0.4],
            "load_ms": [3.0, 3.0],
            "peak_rss_delta_mb": [1.0, 1.0],
            "model_bytes": [1000, 1000],
            "input_dtype": ["float32"] * 2,
            "cpu_count": [2, 2],
        }
    ).to_csv(results / "tables" / "latency.csv", index=False)
    _png(results / "plots" / "mobile_robustness.png", (30, 30, 200))
    _png(results / "plots" / "camera_contact_sheet.png", (90, 90, 90))
    verdict = decide(
        table,
        {"gallery_accuracy": 0.85, "camera_accuracy": 0.8, "camera_severity": 1},
        {"generator": "g1", "size": 32},
        {},
        None,
        {"float32": 1000, "int8": 300},
    )
    (results / "verdict.json").write_text(json.dumps({"dataset": "ds", **verdict}))
    for stage, seconds in (("train_cv", 30.0), ("mobile_predict", 3.0)):
        (bench / stage / "ds").mkdir(parents=True)
        (bench / stage / "ds" / "x.tsv").write_text(
            f"s\th:m:s\tmax_rss\n{seconds}\t0:00:30\t512.0\n"
        )
    (bench / "train_cv" / "other").mkdir()
    (bench / "train_cv" / "other" / "x.tsv").write_text("s\th:m:s\tmax_rss\n999\t0:16:39\t1.0\n")
    return results, bench


EVERY_TABLE = {
    "classes",
    "rejects",
    "cv_m1",
    "selection",
    "reduction",
    "reduction_grid",
    "spec",
    "final_metrics",
    "export",
    "camera_drop",
    "mobile",
    "mobile_phone_test",
    "phone_test",
    "latency",
    "time",
    "verdict",
    "next_steps",
}


def test_report_contains_every_table_and_embeds_its_images(report_results):
    results, bench = report_results
    headline, sections = build_sections(ReportInputs.from_folder(results, "ds", bench))
    page = render_html("mobileclf report: ds", headline, sections)
    parser = TableCollector()
    parser.feed(page)
    assert set(parser.tables) == EVERY_TABLE
    assert len(parser.images) == 4 and all(
        s.startswith("data:image/png;base64,") for s in parser.images
    )
    assert "Inconclusive" in page  # 6/10 at camera severity 1 cannot decide 80%
    camera_drop = parser.tables["camera_drop"]
    assert camera_drop[0][:4] == ["variant", "computer", "gallery", "camera_s0"]
    int8 = next(row for row in camera_drop if row[0] == "int8")
    assert int8[camera_drop[0].index("drop_s1")] == "40.0%"
    time_rows = {row[0]: row for row in parser.tables["time"][1:]}
    assert set(time_rows) == {"train_cv", "mobile_predict"}  # the other dataset is not counted
    assert time_rows["train_cv"][1] == "1" and time_rows["train_cv"][-1] == "90.9%"
    rejects = parser.tables["rejects"]
    assert rejects[1] == ["b/x.txt", "not an image"]
    markdown = render_markdown("mobileclf report: ds", headline, sections, results)
    assert markdown.count("**tables/mobile.csv (holdout)") == 1
    assert (
        "![Accuracy against camera severity per variant](plots/mobile_robustness.png)" in markdown
    )
    assert "| int8 | computer |" in markdown


def test_wilson_interval_is_wide_for_small_tests():
    low, high = wilson_interval(4, 5)
    assert low == pytest.approx(0.376, abs=0.002) and high == pytest.approx(0.964, abs=0.002)


def test_report_renders_in_headless_chromium(report_results, tmp_path):
    """The report as a browser draws it. .ci/run installs Debian's chromium, so under CI
    (CI=true) a missing browser fails the test instead of skipping it."""
    if shutil.which("chromium") is None:
        message = "Debian chromium not installed (apt-get install -y chromium; .ci/run does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)
    results, bench = report_results
    headline, sections = build_sections(ReportInputs.from_folder(results, "ds", bench))
    page = tmp_path / "report.html"
    page.write_text(render_html("mobileclf report: ds", headline, sections))
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1200,2400",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.shape[:2] == (2400, 1200)
    # text and tables drawn on white: many dark pixels, and the red "not deployable" box
    assert (pixels.sum(axis=2) < 200).mean() > 0.005
    red_box = (pixels[..., 0] > 240) & (pixels[..., 1] < 240) & (pixels[..., 1] > 220)
    assert red_box.sum() > 1000


# --- the workflow ---------------------------------------------------------------------


def test_app_normalization_reads_the_variants_own_read_back():
    """The app's NormalizeOp comes from the variant's read-back file (add_metadata's
    export/metadata_<variant>.json); another variant's file or one without normalisation
    stops with the file's name and the recovery."""
    read_back = {"variant": "int8", "input": {"norm_mean": [0.0], "norm_std": [1.0]}}
    assert app_normalization(read_back, "int8") == ([0.0], [1.0])
    scaled = {"variant": "float32", "input": {"norm_mean": 127.5, "norm_std": 127.5}}
    assert app_normalization(scaled, "float32") == ([127.5], [127.5])
    with pytest.raises(MobileInputError, match=r"export/metadata_float16\.json .*make repair"):
        app_normalization(read_back, "float16")
    with pytest.raises(MobileInputError, match=r"export/metadata_int8\.json has no input"):
        app_normalization({"variant": "int8", "input": {"norm_mean": [0.0]}}, "int8")
