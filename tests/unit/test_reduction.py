"""Parameter reduction: grid planning, the choice rule, block training (the workflow stage:
tests/workflow/test_reduction_run.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY_CONFIG

from mobileclf.reduce.grid import (
    BLOCK_RE,
    block_key,
    expand_axis,
    grid_cells,
    parse_block_key,
    plan_blocks,
    skip_reason,
)
from mobileclf.reduce.summary import choose_cell, pareto_mask, summarise


def test_axes_accept_lists_and_inclusive_ranges():
    assert expand_axis([8, 1, 2, 4, 2]) == [1, 2, 4, 8]
    assert expand_axis({"from": 1, "to": 19}) == list(range(1, 20))
    assert expand_axis({"from": 2, "to": 10, "step": 4}) == [2, 6, 10]


def test_block_names_round_trip():
    cells = [(4, 1), (4, 2), (4, 3), (4, 8), (5, 2)]
    assert block_key(cells) == "f4n1-3.8_f5n2"
    assert parse_block_key("f4n1-3.8_f5n2") == cells
    assert BLOCK_RE.fullmatch(block_key(grid_cells(range(1, 20), range(1, 20))))
    with pytest.raises(ValueError, match="not a reduction block"):
        parse_block_key("f4x1")


def test_paper_grid_cuts_into_small_named_blocks():
    cells = grid_cells(expand_axis({"from": 1, "to": 19}), expand_axis({"from": 1, "to": 19}))
    blocks = plan_blocks(cells, [], 19)
    assert len(blocks) == 19
    assert blocks[0] == "f1n1-19"
    assert sorted(c for key in blocks for c in parse_block_key(key)) == cells


def test_grown_grid_reuses_finished_blocks_and_plans_only_new_cells():
    old = plan_blocks(grid_cells([1, 2], [2, 3, 4]), [], 4)
    assert old == ["f1n2-4_f2n2", "f2n3-4"]
    grown = plan_blocks(grid_cells([1, 2, 3], [2, 3, 4, 8]), old, 4)
    assert grown[:2] == old
    new_cells = [c for key in grown[2:] for c in parse_block_key(key)]
    assert sorted(new_cells) == [(1, 8), (2, 8), (3, 2), (3, 3), (3, 4), (3, 8)]
    # a smaller grid reuses the blocks that hold its cells and plans nothing new
    assert plan_blocks(grid_cells([2], [3]), old, 4) == ["f2n3-4"]


def test_skip_reasons():
    assert (
        skip_reason({"layers": [{"type": "conv", "filters": 4}, {"type": "dense", "units": 8}]})
        is None
    )
    assert "backbone" in skip_reason({"backbone": {"name": "mobilenet_v2"}, "layers": []})
    assert "no dense" in skip_reason({"layers": [{"type": "conv", "filters": 4}, {"type": "gap"}]})


def _table(rows):
    table = pd.DataFrame(rows, columns=["filters", "neurons", "mean_accuracy", "n_params"])
    return table.assign(std_accuracy=0.0, n_folds=5, tflite_bytes=table.n_params * 4 + 1000)


def test_tolerance_rule_picks_fewest_parameters_within_one_point():
    table = _table(
        [
            (16, 16, 0.960, 40000),  # best
            (8, 8, 0.951, 9000),  # within 1 point
            (4, 8, 0.950, 5000),  # exactly 1 point below: still within
            (2, 2, 0.949, 800),  # 1.1 points below: out
            (4, 4, 0.955, 5000),  # same size as (4, 8), more accurate: wins the tie
        ]
    )
    chosen = choose_cell(table, 1.0)
    assert (chosen.filters, chosen.neurons) == (4, 4)
    assert (choose_cell(table, 0.0).filters, choose_cell(table, 0.0).neurons) == (16, 16)
    assert (choose_cell(table, 1.2).filters, choose_cell(table, 1.2).neurons) == (2, 2)
    assert pareto_mask(table).tolist() == [True, False, False, True, True]


def test_summary_uses_population_std_and_rejects_missing_folds():
    rows = pd.DataFrame(
        {
            "filters": [1, 1, 2, 2],
            "neurons": [2, 2, 2, 2],
            "fold": [0, 1, 0, 1],
            "accuracy": [0.5, 0.7, 0.8, 0.8],
            "n_params": [10, 10, 20, 20],
            "tflite_bytes": [100, 100, 200, 200],
        }
    )
    table = summarise(rows, [(1, 2), (2, 2)], 2)
    assert table.mean_accuracy.tolist() == pytest.approx([0.6, 0.8])
    assert table.std_accuracy.tolist() == pytest.approx([0.1, 0.0])
    with pytest.raises(Exception, match="lack folds"):
        summarise(rows.iloc[:3], [(1, 2), (2, 2)], 2)


def test_block_training_equals_fit_and_evaluate(tmp_path):
    """The packed block is the same maths as one fit_and_evaluate per cell, on every fold
    (the second fold reuses the first fold's traced graph): bit-identical weights, same
    accuracy, Keras' own parameter count, TFLite bytes independent of the weights."""
    import keras

    from mobileclf.reduce.block import BlockTrainer, train_block
    from mobileclf.reduce.size import selected_model_bytes, tflite_float32_bytes
    from mobileclf.train.architectures import with_reduction
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (40, 12, 12, 3), dtype=np.uint8)
    y = (images[:, :6].mean(axis=(1, 2, 3)) > images[:, 6:].mean(axis=(1, 2, 3))).astype(np.int64)
    roles = np.array((["train"] * 3 + ["val"] + ["test"]) * 8)
    # fold 1 trains on other images, so its featurewise statistics differ from fold 0's
    splits = pd.DataFrame({"fold0": roles, "fold1": np.roll(roles, 2)})
    layers = TINY_CONFIG["architectures"]["tiny"]["layers"] + [{"type": "dropout", "rate": 0.3}]
    generator = {**TINY_CONFIG["generators"]["g3"], "brightness_range": [0.5, 1.0]}
    settings = TrainSettings.from_config({"epochs": 2, "batch_size": 8, "optimizer": "adam"})
    cells = [(1, 3), (3, 2)]
    rows = train_block(images, y, splits, ["a", "b"], layers, cells, generator, settings, seed=7)
    assert [(r["filters"], r["neurons"], r["fold"], r["seed"]) for r in rows] == [
        (1, 3, 0, 7),
        (3, 2, 0, 7),
        (1, 3, 1, 8),
        (3, 2, 1, 8),
    ]
    trainer = BlockTrainer(
        [(cell, with_reduction(layers, *cell)) for cell in cells], 12, ["a", "b"]
    )
    for fold, seed in ((0, 7), (1, 8)):
        fold_roles = splits[f"fold{fold}"].to_numpy()
        trainer.train_fold(images, y, fold_roles, generator, settings, seed)
        for model, cell in zip(trainer.models(), cells, strict=True):
            row = next(r for r in rows if (r["filters"], r["neurons"], r["fold"]) == (*cell, fold))
            keras.utils.set_random_seed(seed)
            single = fit_and_evaluate(
                images,
                y,
                fold_roles,
                ["a", "b"],
                with_reduction(layers, *cell),
                generator,
                settings,
                seed,
            )
            for packed_weights, single_weights in zip(
                model.get_weights(), single.model.get_weights(), strict=True
            ):
                np.testing.assert_array_equal(packed_weights, single_weights)
            assert row["accuracy"] == single.metrics["accuracy"]
            assert row["loss"] == pytest.approx(single.metrics["loss"], rel=1e-6)
            assert row["n_params"] == single.model.count_params()
            if fold == 0:
                assert row["tflite_bytes"] == tflite_float32_bytes(single.model)
                # the summary's measure of the selected model (untrained, random weights)
                measured = selected_model_bytes(
                    images, splits, ["a", "b"], with_reduction(layers, *cell), generator
                )
                assert measured == (row["n_params"], row["tflite_bytes"])


def test_block_with_early_stopping_trains_each_cell_alone():
    """With early stopping a cell stops at its own epoch, which one packed graph cannot
    do: each cell trains alone, with the fold's seed, as a train_cv job would."""
    import keras

    from mobileclf.reduce.block import train_block
    from mobileclf.train.architectures import with_reduction
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (30, 12, 12, 3), dtype=np.uint8)
    y = (images[:, :6].mean(axis=(1, 2, 3)) > images[:, 6:].mean(axis=(1, 2, 3))).astype(np.int64)
    splits = pd.DataFrame({"fold0": np.array((["train"] * 3 + ["val", "test"]) * 6)})
    layers = TINY_CONFIG["architectures"]["tiny"]["layers"]
    generator = TINY_CONFIG["generators"]["g1"]
    section = {"epochs": 6, "batch_size": 8, "optimizer": "adam", "early_stopping_patience": 1}
    settings = TrainSettings.from_config(section)
    cells = [(1, 3), (3, 2)]
    rows = train_block(images, y, splits, ["a", "b"], layers, cells, generator, settings, seed=5)
    for row, cell in zip(rows, cells, strict=True):
        keras.utils.set_random_seed(5)
        single = fit_and_evaluate(
            images, y, splits["fold0"].to_numpy(), ["a", "b"], with_reduction(layers, *cell),
            generator, settings, 5,
        )  # fmt: skip
        assert (row["filters"], row["neurons"], row["seed"]) == (*cell, 5)
        assert row["accuracy"] == single.metrics["accuracy"]
        assert row["loss"] == pytest.approx(single.metrics["loss"], rel=1e-6)
        assert row["n_params"] == single.model.count_params()
        assert row["train_seconds"] > 0


def _summary_cli(tmp_path, arch_spec: dict) -> dict:
    selection = {
        "arch": "gapnet",
        "generator": "g1",
        "size": 16,
        "mean_accuracy": 0.8,
        "std_accuracy": 0.1,
        "n_params": 123,
    }
    (tmp_path / "selection.json").write_text(json.dumps(selection))
    outputs = {name: tmp_path / name for name in ("t.csv", "h.png", "p.png", "r.json")}
    command = [
        sys.executable,
        str(REPO / "scripts" / "reduction_summary.py"),
        "--dataset",
        "d",
        "--selection",
        str(tmp_path / "selection.json"),
        "--table",
        str(outputs["t.csv"]),
        "--heatmap",
        str(outputs["h.png"]),
        "--tradeoff",
        str(outputs["p.png"]),
        "--out",
        str(outputs["r.json"]),
        "--arch-spec",
        json.dumps(arch_spec),
        "--generator-spec",
        "{}",
        "--grid",
        '{"filters": [1], "neurons": [1]}',
    ]
    subprocess.run(command, check=True, capture_output=True)
    assert pd.read_csv(outputs["t.csv"]).empty
    assert outputs["h.png"].read_bytes()[:4] == b"\x89PNG"
    return json.loads(outputs["r.json"].read_text())


def test_architecture_without_dense_layer_is_skipped_with_reason(tmp_path):
    layers = [{"type": "conv", "filters": 8}, {"type": "gap"}]
    result = _summary_cli(tmp_path, {"layers": layers})
    assert result["skipped"] is True
    assert "no dense" in result["reason"]
    assert result["layers"] == layers
    assert (result["arch"], result["size"], result["n_params"]) == ("gapnet", 16, 123)
    assert result["bytes_before"] is None and result["filters"] is None
