"""The phone check's library without a browser: the geometry the page is held to, and the
measured runs' way into the verdict (mobileclf.phone_check)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mobileclf.mobile.camera import template_preprocess, to_sensor
from mobileclf.mobile.predict import KERAS, holdout_rows, prediction_frame
from mobileclf.mobile.tables import mobile_table
from mobileclf.mobile.verdict import decide
from mobileclf.phone_check.geometry import camera_index_map
from mobileclf.phone_check.measured import COLUMNS, MeasuredRunError, phone_measured
from mobileclf.phone_check.verdict import note_measured, with_measured

THRESHOLDS = {"gallery_accuracy": 0.7, "camera_accuracy": 0.8, "camera_severity": 1}


@pytest.mark.parametrize("orientation", [0, 90, 180, 270])
@pytest.mark.parametrize(("height", "width", "size"), [(640, 480, 24), (480, 640, 24), (7, 11, 3)])
def test_index_map_reads_the_pixels_the_template_feeds(orientation, height, width, size):
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    index = camera_index_map(height, width, size, orientation)
    expected = template_preprocess(to_sensor(frame, orientation), size, orientation)
    assert np.array_equal(frame.reshape(-1, 3)[index], expected)


def emulated_table() -> pd.DataFrame:
    """10 holdout images; every path right on 9 of them (camera at severities 0 and 1)."""
    splits = pd.DataFrame(
        {
            "path": [f"{c}/{i}.png" for c in ("a", "b") for i in range(5)],
            "label": ["a"] * 5 + ["b"] * 5,
            "set": "holdout",
        }
    )
    holdout = holdout_rows(splits, ["a", "b"], 3, seed=1)
    right = np.eye(2)[holdout.y.to_numpy()]
    right[9:] = 1 - right[9:]
    frames = [
        prediction_frame(holdout, variant, path, severity, right)
        for variant in (KERAS, "int8")
        for path, severity in (("computer", None), ("gallery", None), ("camera", 0), ("camera", 1))
    ]
    return mobile_table(pd.concat(frames, ignore_index=True), ["a", "b"], 1)


def measured(mode: str, correct: int, n: int, variant: str = "int8") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run": "r1",
                "device": "phone",
                "mode": mode,
                "variant": variant,
                "id": f"H{i:02d}",
                "truth": "a",
                "prediction": "a" if i < correct else "b",
                "confidence": 0.9,
                "timestamp": "t",
                "correct": i < correct,
            }
            for i in range(n)
        ],
        columns=COLUMNS,
    )


def verdict_with(phone: pd.DataFrame | None, severity: int = 1) -> dict:
    thresholds = {**THRESHOLDS, "camera_severity": severity}
    table = with_measured(emulated_table(), phone, severity)
    verdict = decide(table, thresholds, {"generator": "g1", "size": 32}, {}, None, {"int8": 300})
    return note_measured(verdict, phone)


def test_the_verdict_decides_on_the_measured_camera_figure_and_says_so():
    before = verdict_with(None)
    assert before["measured"] == [] and "Measured" not in before["summary"]
    (emulated,) = before["evidence"]
    assert (emulated["camera_correct"], emulated["camera_n"]) == (9, 10)
    assert emulated["camera_decision"] == "undecided"  # 9/10 cannot decide 80%
    after = verdict_with(measured("camera", 12, 40))  # the real camera: 30%
    (evidence,) = after["evidence"]
    assert (evidence["camera_correct"], evidence["camera_n"]) == (12, 40)
    assert evidence["gallery_correct"] == 9  # not measured: still the emulation
    assert evidence["camera_decision"] == "fail" and after["outcome"] == "not deployable"
    assert evidence["camera_drop_low"] is None  # the emulation's paired drop does not apply
    assert "Measured on a phone" in after["summary"] and "int8 camera 12/40" in after["summary"]
    (used,) = after["measured"]
    assert (used["n_correct"], used["n_images"]) == (12, 40)
    assert used["low"] == pytest.approx(0.1806, abs=1e-3)  # Wilson 95% of 12/40


def test_a_measured_mode_without_an_emulated_row_still_counts():
    after = verdict_with(measured("camera", 40, 40), severity=3)  # severity 3 never emulated
    (evidence,) = after["evidence"]
    assert (evidence["camera_correct"], evidence["camera_n"]) == (40, 40)


def test_the_table_refuses_a_run_edited_into_another_class(tmp_path):
    holdout = tmp_path / "holdout.csv"
    holdout.write_text("path,label,y,phone_test\na/1.png,a,0,True\nb/2.png,b,1,True\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    result = {"id": "H01", "truth": "a", "prediction": "b", "confidence": 0.6, "timestamp": "t"}
    run = {
        "format": "mobileclf-phone-check/1",
        "dataset": "ds",
        "device": "phone",
        "mode": "gallery",
        "variant": "int8",
        "results": [result],
    }
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(run))
    args = SimpleNamespace(
        dataset="ds", holdout=holdout, labels=labels, variants=["int8"], runs=[str(good)]
    )
    phone_measured(SimpleNamespace(**vars(args), table=tmp_path / "table.csv"))
    table = pd.read_csv(tmp_path / "table.csv")
    assert table[["id", "truth", "prediction", "correct"]].values.tolist() == [
        ["H01", "a", "b", False]
    ]
    bad.write_text(json.dumps({**run, "results": [{**result, "truth": "b"}]}))
    with pytest.raises(MeasuredRunError, match=re.escape("bad.json: results[0].truth")):
        phone_measured(
            SimpleNamespace(**{**vars(args), "runs": [str(good), str(bad)]}, table=tmp_path / "t")
        )
