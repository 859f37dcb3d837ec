"""CV folds side by side (mobileclf.train.towers): the all-folds job's towers give, fold by
fold, the files of the sequential one-fold-at-a-time training (as test_reduction.py checks
reduction blocks against separate trainings)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

# time figures: the towers share their steps, so these differ by design
TIMES = {
    "train_seconds",
    "first_step_seconds",
    "step_seconds_median",
    "step_seconds_total",
    "images_per_second",
    "process_seconds",
    "process_cpu_seconds",
    "outside_steps_share",
    "peak_rss_mb",
}


def _data(size: int = 12):
    """Three folds whose training sets differ in size (23, 22 and 21 images: 3, 3 and 3
    batches of 8 but different last batches; fold 2 has 2 val images fewer)."""
    from mobileclf.data.datasets import ResizedData

    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (36, size, size, 3), dtype=np.uint8)
    y = (images[:, : size // 2].mean(axis=(1, 2, 3)) > images.mean(axis=(1, 2, 3))).astype(np.int64)
    folds = {}
    for fold, (n_val, n_test) in enumerate([(6, 7), (7, 7), (6, 9)]):
        roles = np.array(["train"] * 36, dtype=object)
        order = np.random.default_rng(fold).permutation(36)
        roles[order[:n_val]] = "val"
        roles[order[n_val : n_val + n_test]] = "test"
        folds[f"fold{fold}"] = roles
    return ResizedData(images, y, ["a", "b"], pd.DataFrame(folds))


def _run(tmp_path, name: str, training: dict, towers: bool, monkeypatch) -> list[tuple]:
    from mobileclf.train import towers as towers_module
    from mobileclf.train.cv import Cell, FoldOutputs, train_folds

    layers = [
        {"type": "conv", "filters": 4},
        {"type": "maxpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 8},
        {"type": "dropout", "rate": 0.3},
    ]
    generator = {
        "rescale": 1 / 255,
        "horizontal_flip": True,
        "rotation_range": 20,
        "brightness_range": [0.6, 1.2],
        "featurewise_center": True,
        "featurewise_std_normalization": True,
    }
    cell = Cell("tiny", "g3", {"layers": layers}, generator, training, 1)
    folder = tmp_path / name
    folder.mkdir()
    folds = [
        FoldOutputs(f, 7 + f, 0, folder / f"m{f}.json", folder / f"h{f}.csv") for f in range(3)
    ]
    monkeypatch.setattr(towers_module, "TOWERS_BELOW", 10_000 if towers else 0)
    train_folds(_data(), cell, folds, "CPU")
    return [(json.loads(fold.metrics.read_text()), fold.history.read_text()) for fold in folds]


@pytest.mark.parametrize(
    "training",
    [
        dict(epochs=3, batch_size=8, optimizer="adam", learning_rate=0.003),
        dict(
            epochs=8,
            batch_size=8,
            optimizer="sgd",
            learning_rate=0.02,
            momentum=0.9,
            early_stopping_patience=1,
            schedule={"type": "cosine"},
        ),
    ],
    ids=["adam", "sgd-early-stopping"],
)
def test_towers_write_the_files_of_sequential_training(tmp_path, monkeypatch, training):
    """Fold by fold: the same history.csv bytes (every epoch's losses, accuracies and
    learning rate; a stopped tower's history ends where its sequential training's ends)
    and the same metrics.json apart from the time figures."""
    towers = _run(tmp_path, "towers", training, True, monkeypatch)
    sequential = _run(tmp_path, "sequential", training, False, monkeypatch)
    for (metrics, history), (expected_metrics, expected_history) in zip(
        towers, sequential, strict=True
    ):
        assert metrics.pop("towers") == 3 and "towers" not in expected_metrics
        assert history == expected_history
        assert {k: v for k, v in metrics.items() if k not in TIMES} == {
            k: v for k, v in expected_metrics.items() if k not in TIMES
        }
        assert metrics["train_steps"] == expected_metrics["train_steps"]
    runs = [metrics["epochs_run"] for metrics, _ in towers]
    if "early_stopping_patience" in training:
        # early stopping ended two folds at different epochs; the third ran to the end
        assert runs == [5, 8, 3]
    else:
        assert runs == [training["epochs"]] * 3


def test_towers_with_the_fused_dense_op_write_the_files_of_sequential_training(
    tmp_path, monkeypatch
):
    """The op updates a kernel inside its tower's conditional step: a stopped tower's
    kernel stays put, and every fold's files equal the sequential training's."""
    from mobileclf.train import fused_dense

    if fused_dense.load_op() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{fused_dense.LIBRARY} is not built or does not load: run make install")
        pytest.skip("the fused dense op is not built here (make install builds it)")
    monkeypatch.setattr(fused_dense, "MIN_PARAMETERS", 0)
    counts = []
    attach = fused_dense.attach
    monkeypatch.setattr(fused_dense, "attach", lambda model: counts.append(attach(model)))
    training = dict(
        epochs=8, batch_size=8, optimizer="adam", learning_rate=0.01, early_stopping_patience=1
    )
    towers = _run(tmp_path, "towers", training, True, monkeypatch)
    sequential = _run(tmp_path, "sequential", training, False, monkeypatch)
    assert counts == [2] * 6  # both Dense layers of every fold, both ways
    for (metrics, history), (expected_metrics, expected_history) in zip(
        towers, sequential, strict=True
    ):
        metrics.pop("towers")
        assert history == expected_history
        assert {k: v for k, v in metrics.items() if k not in TIMES} == {
            k: v for k, v in expected_metrics.items() if k not in TIMES
        }
    assert len({metrics["epochs_run"] for metrics, _ in towers}) > 1  # stopped apart


def test_towers_train_the_weights_of_fit_and_evaluate():
    """The trained weights themselves, bit for bit, against one fit_and_evaluate per fold
    (as test_reduction.py checks reduction blocks)."""
    import keras

    from mobileclf.train import step_timer
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate, prepare_fit
    from mobileclf.train.towers import fit_towers

    data = _data()
    layers = [{"type": "conv", "filters": 3}, {"type": "flatten"}, {"type": "dropout", "rate": 0.2}]
    generator = {"rescale": 1 / 255, "rotation_range": 15, "featurewise_center": True}
    settings = TrainSettings.from_config({"epochs": 2, "batch_size": 8, "optimizer": "adam"})
    folds = [(0, 3), (2, 5)]  # (fold, seed)
    keras.backend.clear_session()
    prepared = []
    for fold, seed in folds:
        keras.utils.set_random_seed(seed)
        roles = data.splits[f"fold{fold}"].to_numpy()
        args = (data.images, data.y, roles, data.labels, layers, generator, settings, seed)
        prepared.append(prepare_fit(*args))
    trained = fit_towers(prepared, settings, [step_timer.step_timer() for _ in folds])
    for (fold, seed), tower, result in zip(folds, prepared, trained, strict=True):
        keras.utils.set_random_seed(seed)
        roles = data.splits[f"fold{fold}"].to_numpy()
        args = (data.images, data.y, roles, data.labels, layers, generator, settings, seed)
        single = fit_and_evaluate(*args)
        for towers_weights, single_weights in zip(
            tower.model.get_weights(), single.model.get_weights(), strict=True
        ):
            np.testing.assert_array_equal(towers_weights, single_weights)
        pd.testing.assert_frame_equal(result.history, single.history)


def test_what_towers_do_not_reproduce_trains_one_fold_after_another():
    from mobileclf.train.towers import TOWERS_BELOW, sequential_reason

    plain = ({"layers": []}, {"rescale": 1 / 255})
    assert sequential_reason(*plain, "CPU", 16) is None
    assert "size" in sequential_reason(*plain, "CPU", TOWERS_BELOW)
    assert "GPU" in sequential_reason(*plain, "GPU", 16)
    backbone = {"backbone": {"name": "mobilenet_v2"}, "layers": []}
    assert "backbone" in sequential_reason(backbone, {}, "CPU", 16)
    assert "phone_views" in sequential_reason(
        {"layers": []}, {"phone_views": {"views": 2}}, "CPU", 16
    )
