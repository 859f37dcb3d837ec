"""Export stage in the workflow: the verified bundle of the session's finished run."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from conftest import PHONE_TESTS_AND_REPORT, planned_jobs

from mobileclf.export.convert import VARIANT_INFO, VARIANTS


@pytest.mark.slow
def test_workflow_exports_verified_bundle(finished_run):
    """The export stage of the session's finished run (the tiny config names the bundle's
    metadata in its export section); the rerun contract checked by dry runs against it."""
    workdir, config = finished_run
    results = workdir / "results" / "tiny"
    table = pd.read_csv(results / "tables" / "export.csv")
    assert list(table.columns[:8]) == [
        "variant",
        "bytes",
        "input_dtype",
        "output_dtype",
        "weights",
        "n_images",
        "agreement",
        "accuracy",
    ]
    assert {"accuracy_delta", "max_prob_diff"} <= set(table.columns)
    assert list(table.variant) == list(VARIANTS)
    splits = pd.read_csv(results / "splits.csv")
    holdout = int((splits["set"] == "holdout").sum())
    metrics = pd.read_json(results / "final" / "metrics.json", typ="series")
    for row in table.itertuples():
        assert row.bytes == (results / "deploy" / f"model_{row.variant}.tflite").stat().st_size
        assert row.input_dtype == VARIANT_INFO[row.variant].input_dtype
        assert row.n_images == holdout
        assert row.keras_accuracy == pytest.approx(metrics["accuracy"])
        assert row.accuracy == pytest.approx(row.keras_accuracy + row.accuracy_delta)
    float32 = table.set_index("variant").loc["float32"]
    assert float32.max_prob_diff <= 1e-4 and float32.agreement == 1.0
    assert table.set_index("variant").loc["int8", "output_dtype"] == "uint8"
    training_index = (results / "labels.txt").read_text().split()
    assert (results / "deploy" / "labels.txt").read_text().split() == training_index
    bundle = pd.read_json(results / "deploy" / "metadata.json", typ="series")
    for variant in VARIANTS:
        assert bundle["variants"][variant]["labels"] == training_index
        assert bundle["variants"][variant]["version"] == "v1"
    card = (results / "deploy" / "model_card.md").read_text()
    assert "not a diagnosis" in card and "optimistic" in card and "model_int8.tflite" in card
    assert metrics["n_images"] == holdout and metrics["evaluated_on"] == "holdout"
    # rerun contract: metadata edits re-pack and re-verify, they never retrain or reconvert
    changed = copy.deepcopy(config)
    changed["export"]["metadata"]["version"] = "v2"
    # (the phone tests and the report downstream of the deploy files rerun too)
    rules = {rule for rule, _ in planned_jobs(workdir, changed)} - {"all"}
    assert sorted(rules - PHONE_TESTS_AND_REPORT) == ["add_metadata", "model_card", "verify_export"]
    assert "mobile_predict" in rules and "mobile_reference_inputs" not in rules
    tolerance = copy.deepcopy(config)
    tolerance["export"]["tolerance"] = 0.001
    rules = {rule for rule, _ in planned_jobs(workdir, tolerance)} - {"all"}
    assert sorted(rules - PHONE_TESTS_AND_REPORT) == ["model_card", "verify_export"]
