"""Phone metrics of cross-validation (mobileclf.mobile.phone_inputs), selection on them and
the verdict's phone-path lever (mobileclf.mobile.phone_lever). Tiny images, a tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mobileclf.data.demo import make_demo
from mobileclf.mobile.inputs import mobile_camera_inputs, mobile_reference_inputs
from mobileclf.mobile.phone_inputs import (
    PhoneInputsMismatch,
    keras_probabilities,
    load_phone_inputs,
    phone_inputs,
    phone_metrics,
)
from mobileclf.mobile.predict import KERAS, holdout_rows, prediction_frame
from mobileclf.mobile.tables import mobile_table
from mobileclf.mobile.verdict import decide
from mobileclf.select.aggregate import read_runs, summarise
from mobileclf.select.selection import select_best

LEVELS = [{}, {"fill": 0.7, "offset": 0.05, "rotation": 8, "light": 0.3, "blur": 1.5, "noise": 4}]
DECODE = {"max_pixels": 100_000_000, "oversize": "reject"}
SIZE = 16


def _splits(root: Path, holdout: bool) -> pd.DataFrame:
    paths = sorted(str(p.relative_to(root)) for p in root.rglob("*.*"))
    return pd.DataFrame(
        {
            "path": paths,
            "label": [p.split("/")[0] for p in paths],
            "set": "holdout" if holdout else "cv",
        }
    )


def test_phone_metrics_equal_the_mobile_stage_keras_numbers(tmp_path):
    """The same images, as CV test images (phone_inputs, on 2 threads) and as holdout images
    (the mobile stage's own jobs, on one), give identical inputs, and the same Keras model
    scores them alike."""
    from mobileclf.mobile.predict import predict_keras
    from mobileclf.train.architectures import build_model

    root = tmp_path / "data"
    make_demo(root, per_class=3, seed=5)
    labels = sorted({p.name for p in root.iterdir()})
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n")
    as_cv, as_holdout = _splits(root, False), _splits(root, True)
    as_cv.loc[0, "set"] = "holdout"  # never a CV test image: phone_inputs must skip it
    as_cv.to_csv(tmp_path / "cv.csv", index=False)
    as_holdout.to_csv(tmp_path / "holdout_splits.csv", index=False)
    (tmp_path / "spec.json").write_text(json.dumps({"size": SIZE}))
    common = {**DECODE, "seed": 11, "segmentation": None, "sensor_orientation": 90}
    phone_inputs(
        SimpleNamespace(
            splits=tmp_path / "cv.csv",
            root=root,
            out=tmp_path / "phone.npz",
            size=SIZE,
            options={**common, "camera_levels": LEVELS},
            threads=2,  # the rule's; the mobile stage's jobs below run on one
        )
    )
    mobile = SimpleNamespace(
        splits=tmp_path / "holdout_splits.csv",
        labels=tmp_path / "labels.txt",
        spec=tmp_path / "spec.json",
        root=root,
        holdout=tmp_path / "holdout.csv",
        computer=tmp_path / "computer.npy",
        gallery=tmp_path / "gallery.npy",
        options={**common, "mode": "stretch", "resample": "bilinear", "phone_test_per_class": 1},
    )
    mobile_reference_inputs(mobile)
    for severity, level in enumerate(LEVELS):
        mobile_camera_inputs(
            SimpleNamespace(
                holdout=mobile.holdout,
                spec=mobile.spec,
                root=root,
                severity=severity,
                inputs=tmp_path / f"camera_{severity}.npy",
                examples=tmp_path / f"camera_{severity}_examples.npz",
                options={**common, "conditions": level},
            )
        )
    inputs = load_phone_inputs(tmp_path / "phone.npz")
    assert inputs["rows"].tolist() == list(range(1, len(as_cv)))
    holdout = pd.read_csv(mobile.holdout)
    order = [holdout.path.tolist().index(p) for p in inputs["paths"]]  # mobile row per CV row
    assert np.array_equal(inputs["gallery"], np.load(mobile.gallery)[order])
    for severity in range(len(LEVELS)):
        expected = np.load(tmp_path / f"camera_{severity}.npy")[order]
        assert np.array_equal(inputs[f"camera_s{severity}"], expected)
    assert not np.array_equal(inputs["camera_s0"], inputs["camera_s1"])

    model = build_model([{"type": "conv", "filters": 3}, {"type": "flatten"}], SIZE, 2, 1 / 255)
    model.save(tmp_path / "model.keras")
    y = as_cv.label.map({label: i for i, label in enumerate(labels)}).to_numpy()
    test = np.array([1, 3, 4])
    scores = phone_metrics(
        lambda images: keras_probabilities(model, images), inputs, test, y, as_cv.path.to_numpy()
    )
    assert set(scores) == {"gallery_accuracy", "camera_accuracy_s0", "camera_accuracy_s1"}
    rows = [holdout.path.tolist().index(p) for p in as_cv.path[test]]
    arrays = {"gallery_accuracy": mobile.gallery}
    arrays.update({f"camera_accuracy_s{k}": tmp_path / f"camera_{k}.npy" for k in (0, 1)})
    for name, array in arrays.items():
        stage = predict_keras(tmp_path / "model.keras", np.load(array)[rows])
        assert scores[name] == float((stage.argmax(1) == y[test]).mean())
    with pytest.raises(PhoneInputsMismatch, match="lack 1 test image"):
        phone_metrics(lambda images: None, inputs, np.array([0]), y, as_cv.path.to_numpy())


def _runs(cells: dict[str, tuple[list, list]]) -> list[dict]:
    """metrics.json contents: per cell (generator) its per-fold computer and camera-s1
    accuracies (gallery: their mean, camera s0: the computer accuracy)."""
    rows = []
    for generator, (computer, camera) in cells.items():
        for fold, (a, c) in enumerate(zip(computer, camera, strict=True)):
            rows.append(
                dict(
                    arch="m",
                    generator=generator,
                    size=16,
                    fold=fold,
                    status="ok",
                    accuracy=a,
                    macro_f1=a,
                    n_params={"g1": 100, "g3": 200, "phone": 300}[generator],
                    train_seconds=1.0,
                    gallery_accuracy=(a + c) / 2,
                    camera_accuracy_s0=a,
                    camera_accuracy_s1=c,
                    camera_accuracy_s10=0.5,
                )
            )
    return rows


def test_selection_on_mean_camera_accuracy_picks_the_best_camera_cell(tmp_path):
    paths = []
    cells = {  # g1 best on the computer, phone best on the camera (severity 1)
        "g1": ([0.95, 0.93, 0.94, 0.96], [0.50, 0.55, 0.52, 0.48]),
        "g3": ([0.90, 0.91, 0.89, 0.90], [0.60, 0.62, 0.58, 0.61]),
        "phone": ([0.92, 0.90, 0.91, 0.93], [0.85, 0.80, 0.83, 0.86]),
    }
    for i, row in enumerate(_runs(cells)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(row))
    runs = read_runs(paths)
    phone = ["gallery_accuracy", "camera_accuracy_s0", "camera_accuracy_s1", "camera_accuracy_s10"]
    assert list(runs.columns[-4:]) == phone  # after every column there was, by severity
    summary = summarise(runs, 4, camera_severity=1)
    plain = summarise(runs.drop(columns=phone), 4)
    assert [c for c in summary if c in set(plain)] == list(plain.columns)
    assert list(summary.columns[-4:]) == ["gap_to_best", "gap_low", "gap_high", "tied_with_best"]
    by = summary.set_index("generator")
    assert by.loc["phone", "mean_camera_accuracy"] == pytest.approx(0.835)
    assert by.loc["g1", "mean_camera_accuracy_s0"] == pytest.approx(0.945)
    assert select_best(summary, "mean_accuracy")["generator"] == "g1"
    chosen = select_best(summary, "mean_camera_accuracy")
    assert (chosen["generator"], chosen["score"]) == ("phone", pytest.approx(0.835))
    assert chosen["tied_cells"] == ["m/phone/16"]  # paired gaps of 0.2+ are not noise
    assert by.loc["g1", "camera_gap_low"] > 0.2 and by.loc["phone", "camera_tied_with_best"]
    gallery = select_best(summary, "mean_gallery_accuracy")
    assert gallery["generator"] == "phone"
    assert (
        select_best(summarise(runs, 4, camera_severity=0), "mean_camera_accuracy")["generator"]
        == "g1"
    )


def _predictions(camera_correct: int) -> pd.DataFrame:
    """10 holdout images; every path right on all of them but the camera at severity 1."""
    splits = pd.DataFrame(
        {
            "path": [f"{c}/{i}.png" for c in ("a", "b") for i in range(5)],
            "label": ["a"] * 5 + ["b"] * 5,
            "set": "holdout",
        }
    )
    holdout = holdout_rows(splits, ["a", "b"], 3, seed=1)

    def probs(correct: int) -> np.ndarray:
        right = np.eye(2)[holdout.y.to_numpy()]
        right[correct:] = 1 - right[correct:]
        return right

    frames = []
    for variant in (KERAS, "float32"):
        for path, severity, correct in [
            ("computer", None, 10),
            ("gallery", None, 10),
            ("camera", 0, 10),
            ("camera", 1, camera_correct),
        ]:
            frames.append(prediction_frame(holdout, variant, path, severity, probs(correct)))
    return pd.concat(frames, ignore_index=True)


def test_verdict_proposes_phone_views_when_the_camera_drop_is_the_problem(tmp_path):
    paths = []
    cells = {
        "g1": ([0.95, 0.93, 0.94, 0.96], [0.50, 0.55, 0.52, 0.48]),
        "phone": ([0.92, 0.90, 0.91, 0.93], [0.85, 0.80, 0.83, 0.86]),
    }
    for i, row in enumerate(_runs(cells)):
        paths.append(tmp_path / f"{i}.json")
        paths[-1].write_text(json.dumps(row))
    summary = summarise(read_runs(paths), 4, camera_severity=1)
    table = mobile_table(_predictions(camera_correct=4), ["a", "b"], 1)
    thresholds = {"gallery_accuracy": 0.7, "camera_accuracy": 0.8, "camera_severity": 1}
    selection = {"arch": "m", "generator": "g1", "size": 16}
    generators = {"g1": {"rescale": 1 / 255}, "phone": {"phone_views": {"views": 4}}}
    verdict = decide(table, thresholds, selection, generators["g1"], summary, {}, generators)
    first = verdict["next_steps"][0]
    assert first["action"] == "phone-path generator (phone_views)"
    assert "60.0% below the computer path" in first["because"]  # 10/10 -> 4/10
    assert "m/phone/16 reaches 83.5% on the camera path" in first["because"]
    rows = verdict["phone_comparison"]["rows"]
    assert [(r["role"], r["cell"]) for r in rows] == [
        ("selected", "m/g1/16"),
        ("best phone-path", "m/phone/16"),
    ]
    assert rows[0]["camera_s1"] == pytest.approx(0.5125)
    # already a phone-path generator: not proposed again; no phone cell: the note says so
    again = decide(table, thresholds, selection, generators["phone"], summary, {}, generators)
    assert "phone-path generator (phone_views)" not in [s["action"] for s in again["next_steps"]]
    alone = decide(table, thresholds, selection, generators["g1"], summary, {}, {})
    assert "add one" in alone["phone_comparison"]["note"]
    passing = decide(
        mobile_table(_predictions(10), ["a", "b"], 1), thresholds, selection, {}, summary, {}
    )
    assert all("phone_views" not in s["action"] for s in passing["next_steps"])
