"""The parameter-reduction stage through Snakemake, and its rerun contract."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from conftest import AFTER_REDUCTION, TINY_CONFIG, one_job_per_cell, planned_jobs, run_snakemake

from mobileclf.reduce.grid import (
    grid_cells,
    parse_block_key,
)
from mobileclf.reduce.summary import choose_cell


def _reduction_config() -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["resize"]["sizes"] = [16]
    config["generators"] = {"g3": config["generators"]["g3"]}
    config["training"]["epochs"] = 1
    one_job_per_cell(config)
    # the selected model itself (4 filters, 8 neurons) is one of the 2 x 3 cells
    config["reduction"] = {"filters": [2, 4], "neurons": [3, 5, 8], "block_size": 4}
    return config


@pytest.mark.slow
def test_reduction_stage_end_to_end_and_rerun_contract(tmp_path):
    import keras

    from mobileclf.train.architectures import build_model, with_reduction

    config = _reduction_config()
    # the stage's own output: nothing past reduction.json is asserted here
    run_snakemake(tmp_path, config, "results/tiny/reduction.json")
    results = tmp_path / "results" / "tiny"
    table = pd.read_csv(results / "tables" / "reduction.csv")
    assert list(zip(table.filters, table.neurons, strict=True)) == grid_cells([2, 4], [3, 5, 8])
    assert (table.n_folds == 2).all()
    layers = config["architectures"]["tiny"]["layers"]
    generator_has_stats = 2  # g3: featurewise mean and std -> a Normalization layer
    for row in table.itertuples():
        model = build_model(
            with_reduction(layers, row.filters, row.neurons),
            16,
            2,
            1 / 255,
            np.ones(3),
            np.full(3, generator_has_stats),
        )
        assert row.n_params == model.count_params()
    # float32 TFLite: 4 bytes per parameter plus the graph, growing with the parameters
    by_size = table.sort_values("n_params")
    assert (np.diff(by_size.tflite_bytes) > 0).all()
    assert (table.tflite_bytes > 4 * table.n_params).all()
    keras.backend.clear_session()

    reduction = json.loads((results / "reduction.json").read_text())
    chosen = choose_cell(table, 1.0)
    assert (reduction["filters"], reduction["neurons"]) == (chosen.filters, chosen.neurons)
    assert table.chosen.sum() == 1 and table.loc[table.chosen].index[0] == chosen.name
    assert reduction["layers"] == with_reduction(layers, reduction["filters"], reduction["neurons"])
    assert reduction["bytes_after"] == int(chosen.tflite_bytes)
    # the selected model is cell (4, 8): its size and its accuracy on the same folds and
    # seeds reproduce the CV grid's training jobs
    selected = table[(table.filters == 4) & (table.neurons == 8)].iloc[0]
    assert reduction["bytes_before"] == selected.tflite_bytes
    assert reduction["n_params_before"] == selected.n_params
    cv = [json.loads((results / f"cv/tiny/g3/16/fold{k}/metrics.json").read_text()) for k in (0, 1)]
    assert selected.mean_accuracy == pytest.approx(np.mean([m["accuracy"] for m in cv]))
    for name in ("reduction_heatmap.png", "reduction_tradeoff.png"):
        assert (results / "plots" / name).read_bytes()[:4] == b"\x89PNG"

    # rerun contract: a grown grid trains only its new cells, then the summary
    config["reduction"]["neurons"] = [3, 5, 8, 12]
    config["reduction"]["tolerance"] = 2.0
    jobs = planned_jobs(tmp_path, config)
    # (the final model, its export and the phone tests follow reduction.json; nothing
    # upstream of the reduction reruns)
    rules = [rule for rule, _ in jobs if rule not in AFTER_REDUCTION]
    assert sorted(rules) == ["all", "reduction_block", "reduction_summary"]
    block = next(wildcards for rule, wildcards in jobs if rule == "reduction_block")
    assert parse_block_key(block["cells"]) == [(2, 12), (4, 12)]
    # the tolerance alone reruns the summary only
    config["reduction"]["neurons"] = [3, 5, 8]
    rules = [r for r, _ in planned_jobs(tmp_path, config) if r not in AFTER_REDUCTION]
    assert sorted(rules) == ["all", "reduction_summary"]

    # the switch: disabled, the stage is not in the DAG at all
    config["reduction"]["enabled"] = False
    rules = {rule for rule, _ in planned_jobs(tmp_path, config, "--forceall")}
    assert "train_cv_folds" in rules  # one job per cell (one_job_per_cell)
    assert not rules & {"reduction_block", "reduction_summary"}
