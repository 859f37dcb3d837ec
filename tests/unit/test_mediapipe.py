"""Issue 16, items 4-5 without Snakemake: the config check of the camera severity the
verdict uses, a verdict with the default mobile section and nothing "nan" in it, and the
``mediapipe`` rows' agreement with LiteRT in tables/mobile.csv from fixed predictions.
(The real bundles in MediaPipe: tests/workflow/test_mediapipe_run.py.)"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from mobileclf.errors import UserError  # noqa: E402
from mobileclf.mobile.mediapipe_classifier import (  # noqa: E402
    MediaPipeRefusedError,
    one_line,
    scores_by_label,
)
from mobileclf.mobile.tables import mobile_table  # noqa: E402
from mobileclf.mobile.verdict import decide, without_nan  # noqa: E402
from mobileclf.workflow.config import ConfigError, prepare_config  # noqa: E402

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
TINY = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
LABELS = ["lesion", "normal"]


def _config(mobile: dict | None) -> dict:
    config = copy.deepcopy(TINY)
    config.pop("mobile", None)
    if mobile is not None:
        config["mobile"] = mobile
    return config


def test_defaults_judge_the_camera_at_a_level_that_exists():
    config = prepare_config(_config(None), SCHEMA_PATH)
    mobile = config["mobile"]
    assert len(mobile["camera_levels"]) == 4
    assert mobile["thresholds"]["camera_severity"] == 1
    assert mobile["camera_levels"][1]["jpeg_quality"] == 90  # config/config.yaml's level 1


@pytest.mark.parametrize(
    ("mobile", "levels"),
    [
        ({"camera_levels": [{}]}, 1),  # the old default: severity 1 of one level
        ({"camera_levels": [{}, {"blur": 1}], "thresholds": {"camera_severity": 3}}, 2),
        ({"thresholds": {"camera_severity": 4}}, 4),  # default levels, too high a severity
    ],
)
def test_a_camera_severity_without_its_level_is_one_clear_config_error(mobile, levels):
    with pytest.raises(ConfigError) as caught:
        prepare_config(_config(mobile), SCHEMA_PATH)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("mobile.thresholds.camera_severity: ")
    assert f"mobile.camera_levels has {levels}, severities 0-{levels - 1}" in message
    assert "add levels to mobile.camera_levels" in message


def test_a_camera_severity_with_its_level_is_accepted():
    mobile = {"camera_levels": [{}, {"blur": 1}], "thresholds": {"camera_severity": 1}}
    assert prepare_config(_config(mobile), SCHEMA_PATH)["mobile"]["thresholds"] == {
        "gallery_accuracy": 0.85,
        "camera_accuracy": 0.8,
        "camera_severity": 1,
    }


def _predictions(severities: list[int], n: int = 8, seed: int = 0) -> pd.DataFrame:
    """Long-format predictions of the Keras model and two TFLite variants on every path, as
    mobile_predict writes them (random answers with a fixed seed; y alternates)."""
    rng = np.random.default_rng(seed)
    frames = []
    paths = [("computer", None), ("gallery", None), *[("camera", s) for s in severities]]
    for variant in ("keras", "float32", "int8"):
        for path, severity in paths + ([("mediapipe", None)] if variant != "keras" else []):
            first = rng.random(n)
            frame = pd.DataFrame(
                dict(
                    variant=variant,
                    path=path,
                    severity=pd.array([severity] * n, dtype="Int64"),
                    image=[f"img{i}.png" for i in range(n)],
                    label=[LABELS[i % 2] for i in range(n)],
                    y=[i % 2 for i in range(n)],
                    phone_test=[i < 4 for i in range(n)],
                    predicted=(first < 0.5).astype(int),
                    prob_0=first,
                    prob_1=1 - first,
                )
            )
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_mediapipe_rows_carry_their_agreement_with_litert_on_the_gallery_path():
    predictions = _predictions([0])
    gallery = predictions[(predictions.variant == "int8") & (predictions.path == "gallery")]
    mediapipe = (predictions.variant == "int8") & (predictions.path == "mediapipe")
    answers = gallery.predicted.to_numpy().copy()
    answers[:3] = 1 - answers[:3]  # MediaPipe differs from LiteRT on 3 of 8 images
    predictions.loc[mediapipe, "predicted"] = answers
    predictions.loc[mediapipe, "same_input_predicted"] = gallery.predicted.to_numpy()
    float32 = (predictions.variant == "float32") & (predictions.path == "mediapipe")
    predictions.loc[float32, "same_input_predicted"] = 1 - predictions.loc[float32, "predicted"]
    table = mobile_table(predictions, LABELS, 0)
    rows = table[(table.subset == "holdout") & (table.path == "mediapipe")].set_index("variant")
    assert rows.loc["int8", "litert_agreement"] == pytest.approx(5 / 8)
    assert rows.loc["int8", "litert_agreement_same_input"] == 1.0
    float32_gallery = predictions[
        (predictions.variant == "float32") & (predictions.path == "gallery")
    ]
    float32_agree = (
        predictions.loc[float32, "predicted"].to_numpy() == float32_gallery.predicted.to_numpy()
    ).mean()
    assert rows.loc["float32", "litert_agreement"] == pytest.approx(float32_agree)
    assert rows.loc["float32", "litert_agreement_same_input"] == pytest.approx(1 - float32_agree)
    # the other paths have no agreement, and mediapipe rows come last per variant
    assert table[table.path != "mediapipe"].litert_agreement.isna().all()
    holdout = table[table.subset == "holdout"]
    assert list(holdout[holdout.variant == "int8"].path) == [
        "computer",
        "gallery",
        "camera",
        "mediapipe",
    ]
    # the mediapipe accuracy is counted from its own answers, with its interval
    int8 = predictions[mediapipe]
    assert rows.loc["int8", "n_correct"] == int((int8.predicted == int8.y).sum())
    assert rows.loc["int8", "accuracy_low"] < rows.loc["int8", "accuracy"]


def _holdout_table(severities: list[int], n: int = 20) -> pd.DataFrame:
    """tables/mobile.csv holdout rows (the columns the verdict reads): the Keras model on
    the computer path, float32 and int8 on every path; 18 of 20 right everywhere."""
    rows = [("keras", "computer", None)]
    for variant in ("float32", "int8"):
        rows += [(variant, "computer", None), (variant, "gallery", None)]
        rows += [(variant, "camera", s) for s in severities] + [(variant, "mediapipe", None)]
    table = pd.DataFrame(
        [
            dict(
                subset="holdout",
                variant=variant,
                path=path,
                severity=severity,
                n_images=n,
                accuracy=18 / n,
                n_correct=18,
                drop_low=-0.1,
                drop_high=0.1,
                drop_p_value=1.0,
            )
            for variant, path, severity in rows
        ]
    )
    table["severity"] = table.severity.astype("Int64")
    return table


@pytest.mark.parametrize("missing", [None, "camera 1", "gallery and keras"])
def test_the_default_mobile_section_gives_a_verdict_without_nan(missing):
    """The defaults (no mobile section): a verdict on every default level has no NaN and no
    "nan"; a path that was not measured (a table without the judged severity, or without
    the gallery and Keras rows) reads "not measured" or null, never "nan%"."""
    config = prepare_config(_config(None), SCHEMA_PATH)
    table = _holdout_table(list(range(len(config["mobile"]["camera_levels"]))))
    if missing == "camera 1":
        table = table[table.severity.fillna(-1) != 1]
    elif missing == "gallery and keras":
        table = table[(table.path != "gallery") & (table.variant != "keras")]
    verdict = without_nan(  # as mobile_tables writes verdict.json
        decide(
            table,
            config["mobile"]["thresholds"],
            {"generator": "g1", "size": 16},
            config["generators"]["g1"],
            None,
            {"float32": 4000, "int8": 1000},
        )
    )
    text = json.dumps(verdict, allow_nan=False)  # raises on a NaN anywhere
    assert "nan" not in text.lower()
    if missing is None:
        assert verdict["outcome"] == "inconclusive"  # 18/20 against 85% and 80%
        assert sorted(verdict["camera_by_severity"]["float32"]) == ["0", "1", "2", "3"]
        assert "camera (severity 1) 90% (18/20; 95% CI 70%-97%)" in verdict["summary"]
    if missing == "camera 1":
        assert "camera (severity 1) not measured" in verdict["summary"]
        assert verdict["evidence"][0]["camera"] is None  # null in verdict.json
    if missing == "gallery and keras":
        assert verdict["computer_accuracy_keras"] is None
        assert "gallery not measured" in verdict["summary"]


def test_mediapipe_scores_are_lined_up_by_the_metadata_names():
    top, scores = scores_by_label([("normal", 0.7), ("lesion", 0.3)], LABELS, "m.tflite")
    assert top == 1
    assert scores.tolist() == [0.3, 0.7]
    with pytest.raises(MediaPipeRefusedError) as caught:
        scores_by_label([("", 0.7), ("", 0.3)], LABELS, "deploy/model_int8.tflite")
    assert issubclass(MediaPipeRefusedError, UserError)
    assert "deploy/model_int8.tflite" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_mediapipe_messages_become_one_line():
    error = RuntimeError("INVALID_ARGUMENT: no normalization\n  === Source Location Trace: ===\n x")
    assert one_line(error) == (
        "INVALID_ARGUMENT: no normalization === Source Location Trace: === x"
    )


def test_mediapipe_loads_without_tensorflow_and_leaves_the_real_one_importable():
    """mediapipe.tasks.python imports TensorFlow only for a documentation decorator (10 s a
    job); our import answers it with stand-ins and removes them, in a fresh process."""
    code = (
        "import sys; sys.path.insert(0, 'scripts')\n"
        "from mobileclf.mobile.mediapipe_classifier import _import_mediapipe\n"
        "mp = _import_mediapipe()\n"
        "assert mp.image_classifier.ImageClassifier and mp.Image\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'tensorflow'], 'stand-ins left'\n"
        "import importlib.util; assert importlib.util.find_spec('tensorflow').origin\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_mediapipe_decoding_options_are_only_what_changes_the_decoded_images():
    """The rerun contract of mobile_predict's MediaPipe input: the decode limits and the
    app's segmentation; not the resize rule, the seed or the phone-test size."""
    from types import SimpleNamespace

    from mobileclf.workflow import params as P

    config = prepare_config(_config(None), SCHEMA_PATH)
    wildcards = SimpleNamespace(dataset="tiny")
    before = P.mediapipe_options(config, wildcards)
    assert json.loads(before) == {
        "max_pixels": 100_000_000,
        "oversize": "reject",
        "segmentation": None,
    }
    config["resize"]["mode"] = "pad"
    config["seed"] = 7
    config["mobile"]["phone_test_per_class"] = 2
    assert P.mediapipe_options(config, wildcards) == before
    config["datasets"]["tiny"]["ingest"]["oversize"] = "downscale"
    assert json.loads(P.mediapipe_options(config, wildcards))["oversize"] == "downscale"
