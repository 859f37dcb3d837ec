"""Issue 16 on the session's finished tiny run (conftest.finished_run, the tiny config has
no mobile section: the defaults): every deployed variant classifies through MediaPipe
Tasks' ImageClassifier with the class names of its metadata and agrees with our LiteRT
predictions; a bundle MediaPipe refuses is one clear line; the verdict, report and model
card of the defaults carry no "nan"."""

from __future__ import annotations

import json
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

VARIANTS = ["float32", "dynamic", "int8", "float16"]


@pytest.fixture(scope="module")
def results(finished_run):
    workdir, _ = finished_run
    return workdir / "results" / "tiny"


def _decoded(workdir, holdout: pd.DataFrame) -> list[np.ndarray]:
    """The holdout images as the app decodes them (the gallery path's decode)."""
    from mobileclf.data.images import load_rgb

    root = workdir / "results" / "tiny" / "demo_data"
    return [load_rgb(root / path).rgb for path in holdout.path]


def test_every_variant_classifies_in_mediapipe_with_metadata_labels(finished_run, results):
    """MediaPipe's ImageClassifier, called here directly (not through our module), on every
    file of the bundle, fed the decoded holdout images as an app feeds it: its category
    names are the packed labels (index i names output i, as in deploy/labels.txt); it
    agrees with the LiteRT interpreter given the same pixels (MediaPipe's resize) on at
    least 99% of the holdout images, i.e. all of them below 100 images, with the same
    scores; and where it disagrees with LiteRT on the gallery path (Android's resize),
    LiteRT itself answers differently on the two resizes. The table's mediapipe rows and
    agreement columns say the same."""
    from mobileclf.mobile.mediapipe_classifier import _import_mediapipe, mediapipe_resize
    from mobileclf.mobile.predict import app_normalization, predict_tflite

    mp = _import_mediapipe()  # MediaPipe's own classes (without its TensorFlow import)
    BaseOptions, image_classifier, Image = mp.BaseOptions, mp.image_classifier, mp.Image
    workdir, _ = finished_run
    labels = (results / "deploy" / "labels.txt").read_text().split()
    size = json.loads((results / "final" / "spec.json").read_text())["size"]
    holdout = pd.read_csv(results / "mobile" / "holdout.csv", keep_default_na=False)
    images = _decoded(workdir, holdout)
    resized = np.stack([mediapipe_resize(rgb, size) for rgb in images])
    table = pd.read_csv(results / "tables" / "mobile.csv")
    n = len(holdout)
    for variant in VARIANTS:
        model = results / "deploy" / f"model_{variant}.tflite"
        options = image_classifier.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(model)), max_results=-1
        )
        scores = np.zeros((n, len(labels)))
        answers = []
        with image_classifier.ImageClassifier.create_from_options(options) as classifier:
            for i, rgb in enumerate(images):
                result = classifier.classify(Image(image_format=mp.ImageFormat.SRGB, data=rgb))
                categories = result.classifications[0].categories
                named = sorted((c.index, c.category_name) for c in categories)
                assert named == list(enumerate(labels)), variant
                scores[i, [c.index for c in categories]] = [c.score for c in categories]
                answers.append(categories[0].index)
        # the same pixels in LiteRT: the same scores, the same answers
        read_back = json.loads((results / "export" / f"metadata_{variant}.json").read_text())
        same_pixels = predict_tflite(model, resized, *app_normalization(read_back, variant))
        # (exact at integer downscale factors; else MediaPipe interpolates with other
        # rounding: within one uint8 output step, 1/256)
        assert np.abs(same_pixels - scores).max() <= 1 / 256 + 1e-6, variant
        agree_same = int((same_pixels.argmax(axis=1) == np.array(answers)).sum())
        assert agree_same >= math.ceil(0.99 * n), variant
        # the gallery path (Android's resize): every disagreement is the resize's
        predictions = pd.read_csv(results / "mobile" / "predictions" / f"{variant}.csv")
        gallery = predictions[predictions.path == "gallery"].set_index("image")
        litert = gallery.predicted.loc[holdout.path].to_numpy()
        differ = litert != np.array(answers)
        assert (litert[differ] != same_pixels.argmax(axis=1)[differ]).all(), variant
        # the stage's own mediapipe rows: the same answers, the same agreement
        ours = predictions[predictions.path == "mediapipe"].set_index("image")
        assert ours.predicted.loc[holdout.path].tolist() == answers, variant
        row = table[
            (table.subset == "holdout") & (table.variant == variant) & (table.path == "mediapipe")
        ].iloc[0]
        assert row.n_images == n
        assert row.litert_agreement == pytest.approx(1 - differ.mean())
        assert row.litert_agreement_same_input == 1.0  # gallery pixels: runtime and metadata
        assert row.n_correct == int((np.array(answers) == holdout.y.to_numpy()).sum())


def test_a_bundle_mediapipe_refuses_fails_with_one_line_naming_it(results, tmp_path):
    """The float32 file without metadata (the export's plain conversion): MediaPipe cannot
    normalise its float input, and the stage says so in one line naming the file."""
    from mobileclf.errors import UserError
    from mobileclf.mobile.mediapipe_classifier import MediaPipeRefusedError, load_classifier

    bundle = tmp_path / "model_float32.tflite"
    shutil.copyfile(results / "export" / "plain_float32.tflite", bundle)
    with pytest.raises(MediaPipeRefusedError) as caught:
        load_classifier(bundle)
    message = str(caught.value)
    assert isinstance(caught.value, UserError)
    assert "\n" not in message
    assert message.startswith(f"{bundle}: MediaPipe's ImageClassifier refuses this bundle: ")
    assert "rerun" in message
    assert "ormaliz" in message  # MediaPipe's own reason: the missing normalisation


def test_the_defaults_give_a_verdict_report_and_card_without_nan(results):
    """The tiny config has no mobile section: the four default camera levels were run and
    the camera criterion is judged at severity 1, which exists."""
    verdict_text = (results / "verdict.json").read_text()
    verdict = json.loads(verdict_text)
    assert verdict["thresholds"]["camera_severity"] == 1
    assert sorted(verdict["camera_by_severity"]["float32"]) == ["0", "1", "2", "3"]
    for entry in verdict["evidence"]:
        assert entry["camera_n"] == entry["gallery_n"] > 0
    for text in (
        verdict_text,
        (results / "report.md").read_text(),
        (results / "deploy" / "model_card.md").read_text(),
    ):
        assert not re.search(r"\bnan\b", text, re.IGNORECASE)
