"""The phone-test stage in the workflow: two datasets, the report, one severity's rerun."""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from conftest import one_job_per_cell, planned_jobs, run_snakemake
from helpers import TableCollector


@pytest.mark.slow
def test_workflow_runs_mobile_stage_and_reruns_one_severity(tmp_path, tiny_config):
    tiny_config["export"] = {
        "variants": ["float32", "int8"],
        "calibration_images": 16,
        "metadata": {
            "name": "tiny",
            "version": "v1",
            "description": "test",
            "author": "t",
            "license": "CC0",
        },
    }
    tiny_config["mobile"] = {
        "camera_levels": [{}, {"fill": 0.8, "rotation": 5, "noise": 4, "yuv": True}],
        "phone_test_per_class": 2,
        "latency": {"threads": [1], "warmup": 1, "runs": 5},
    }
    tiny_config["datasets"]["other"] = dict(tiny_config["datasets"]["tiny"])
    tiny_config["resize"]["sizes"] = [16]  # keep the CV grid small: this test is about stage 7
    tiny_config["generators"] = {"g1": tiny_config["generators"]["g1"]}
    one_job_per_cell(tiny_config)
    run_snakemake(tmp_path, tiny_config)
    run_snakemake(tmp_path, tiny_config, "--report", "report.zip")
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        packed = "\n".join(archive.namelist())
    for name in ("mobile.csv", "latency.csv", "verdict.json", "report.html", "index.html"):
        assert name in packed
    for dataset in ("tiny", "other"):
        results = tmp_path / "results" / dataset
        table = pd.read_csv(results / "tables" / "mobile.csv")
        assert set(table.variant) == {"keras", "float32", "int8"}
        holdout = table[table.subset == "holdout"]
        # variants × (computer, gallery, camera 0, camera 1), and MediaPipe per TFLite file
        assert len(holdout) == 3 * 4 + 2
        assert sorted(holdout[holdout.path == "mediapipe"].variant) == ["float32", "int8"]
        # every accuracy and drop recomputed from the per-image predictions: the drop is the
        # Keras model's computer-path accuracy minus the row's
        predictions = pd.concat(
            pd.read_csv(results / "mobile" / "predictions" / f"{variant}.csv")
            for variant in ("keras", "float32", "int8")
        )
        predictions["severity"] = predictions.severity.fillna(-1).astype(int)
        correct = (predictions.predicted == predictions.y).groupby(
            [predictions.variant, predictions.path, predictions.severity]
        )
        accuracy = correct.mean()
        assert (correct.size() == len(pd.read_csv(results / "mobile" / "holdout.csv"))).all()
        baseline = accuracy[("keras", "computer", -1)]
        # ... and the Keras computer path is the final model's own holdout evaluation
        final = json.loads((results / "final" / "metrics.json").read_text())
        assert baseline == pytest.approx(final["accuracy"])
        for row in holdout.itertuples():
            severity = -1 if pd.isna(row.severity) else int(row.severity)
            expected = accuracy[(row.variant, row.path, severity)]
            assert row.accuracy == pytest.approx(expected), row
            assert row.drop_vs_computer == pytest.approx(baseline - expected), row
        assert set(pd.read_csv(results / "tables" / "latency.csv").variant) == {"float32", "int8"}
        verdict = json.loads((results / "verdict.json").read_text())
        assert set(verdict["camera_by_severity"]["float32"]) == {"0", "1"}
        parser = TableCollector()
        parser.feed((results / "report.html").read_text())
        assert {"mobile", "camera_drop", "latency", "export", "time", "verdict"} <= set(
            parser.tables
        )
    assert "tiny/report.html" in (tmp_path / "results" / "index.html").read_text()
    # editing one severity level: CV scores every level (docs/mobile-testing.md#phone-metrics-
    # in-cross-validation), so the CV phone inputs and the CV jobs rerun (fold models are not
    # kept), and after them the selection (selection.json is rewritten) and all that follows
    # it; the data stages do not. (Before CV phone metrics only severity 1's emulation and
    # its readers reran; a selection whose rewrite reruns nothing when the choice is the same
    # would bring that back for everything after the CV tables.)
    tiny_config["mobile"]["camera_levels"][1]["noise"] = 8
    jobs = planned_jobs(tmp_path, tiny_config)
    rules = sorted(rule for rule, _ in jobs)
    assert rules.count("phone_inputs") == 2  # size 16 of both datasets, not one per fold
    assert rules.count("train_cv_folds") == 2  # rescored with the new level
    assert not {"make_demo", "ingest", "split", "resize"} & set(rules)
