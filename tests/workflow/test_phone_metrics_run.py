"""Phone metrics in the finished tiny run: the emulated CV test inputs are made once per
dataset and size (not per fold), and every fold's phone scores reach cv_runs.csv,
cv_summary.csv and the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mobileclf.select.aggregate import phone_columns


def test_phone_inputs_are_made_once_per_size_and_every_fold_is_scored(finished_run):
    workdir, config = finished_run
    results = workdir / "results/tiny"
    sizes = sorted(config["resize"]["sizes"])
    made = sorted(int(p.stem) for p in (results / "phone_inputs").glob("*.npz"))
    assert made == sizes  # one file per size ...
    jobs = sorted((workdir / "benchmarks/phone_inputs/tiny").glob("*.tsv"))
    assert [int(p.stem) for p in jobs] == sizes  # ... from one job each
    folds = sorted(results.glob("cv/*/*/*/fold*/metrics.json"))
    assert len(folds) == len(sizes) * len(config["generators"]) * config["split"]["folds"]
    assert len(folds) > len(jobs)  # not per fold

    splits = pd.read_csv(results / "splits.csv", keep_default_na=False)
    cv_rows = np.flatnonzero(splits.set != "holdout")
    runs = pd.read_csv(results / "tables/cv_runs.csv")
    for size in sizes:
        with np.load(results / f"phone_inputs/{size}.npz") as inputs:
            assert inputs["rows"].tolist() == cv_rows.tolist()  # no holdout image
            assert inputs["paths"].tolist() == splits.path[cv_rows].tolist()
            assert inputs["gallery"].shape == (len(cv_rows), size, size, 3)
            cameras = sorted(n for n in inputs.files if n.startswith("camera_s"))
    expected = ["gallery_accuracy"] + [f"camera_accuracy_s{n[8:]}" for n in cameras]
    assert phone_columns(runs.columns) == expected
    for path in folds:
        metrics = json.loads(path.read_text())
        row = runs[(runs.generator == metrics["generator"]) & (runs["size"] == metrics["size"])]
        row = row[row.fold == metrics["fold"]].iloc[0]
        for column in expected:
            assert 0.0 <= metrics[column] <= 1.0
            assert row[column] == pytest.approx(metrics[column])
    summary = pd.read_csv(results / "tables/cv_summary.csv")
    means = runs.groupby(["generator", "size"])[expected].mean()
    for cell in summary.itertuples():
        for column in expected:
            assert getattr(cell, f"mean_{column}") == pytest.approx(
                means.loc[(cell.generator, cell.size), column]
            )
    report = (results / "report.md").read_text()
    assert "Computer vs phone per cell" in report
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["phone_comparison"]["rows"][0]["role"] == "selected"
