"""Learning-rate schedules, phases and early stopping, asserted from real Keras histories."""

import math

import numpy as np
import pytest

from mobileclf.train.finetune import Phase, effective_training, plan_phases
from mobileclf.train.fit import TrainSettings, fit_and_evaluate
from mobileclf.train.schedules import Schedule

LAYERS = [{"type": "flatten"}, {"type": "dense", "units": 4}]


def test_schedule_formulas():
    cosine = Schedule(type="cosine", min_learning_rate=0.001)
    rates = [cosine.learning_rate(0.1, e, 4) for e in range(4)]
    expected = [0.001 + 0.099 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert rates == pytest.approx(expected)
    assert rates[0] == pytest.approx(0.1) and rates[2] == pytest.approx(0.0505)
    step = Schedule(type="step", step_size=2, gamma=0.5)
    assert [step.learning_rate(0.2, e, 6) for e in range(6)] == pytest.approx(
        [0.2, 0.2, 0.1, 0.1, 0.05, 0.05]
    )
    assert Schedule().learning_rate(0.3, 5, 10) == 0.3
    with pytest.raises(ValueError, match=r"schedule\.type"):
        Schedule.from_config({"type": "exponential"})


def _tiny_data(n: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 120, (n, 8, 8, 3), dtype=np.uint8)
    y = np.arange(n) % 2
    images[y == 1, 2:6, 2:6] = 250
    roles = np.array(["train"] * (n - 8) + ["val"] * 4 + ["test"] * 4)
    return images, y, roles


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"type": "step", "step_size": 2, "gamma": 0.1}, [0.05, 0.05, 0.005, 0.005, 0.0005]),
        (
            {"type": "cosine", "min_learning_rate": 0.01},
            [0.01 + 0.04 * (1 + math.cos(math.pi * e / 5)) / 2 for e in range(5)],
        ),
        ({"type": "constant"}, [0.05] * 5),
    ],
)
def test_history_learning_rate_follows_the_schedule(schedule, expected):
    images, y, roles = _tiny_data()
    settings = TrainSettings.from_config(
        dict(epochs=5, batch_size=8, optimizer="sgd", learning_rate=0.05, momentum=0.9,
             schedule=schedule)
    )  # fmt: skip
    result = fit_and_evaluate(
        images, y, roles, ["a", "b"], LAYERS, {"rescale": 1 / 255}, settings, 1
    )
    history = result.history
    assert history.learning_rate.tolist() == pytest.approx(expected, rel=1e-5)
    assert history.epoch.tolist() == [1, 2, 3, 4, 5]
    assert set(history.phase) == {"all"}
    assert result.metrics["phases"] == [
        dict(phase="all", epochs_planned=5, epochs_run=5, learning_rate=0.05,
             trainable_params=result.metrics["n_params"])
    ]  # fmt: skip


def test_early_stopping_restores_the_best_weights():
    images, y, roles = _tiny_data(seed=1)
    settings = TrainSettings.from_config(
        dict(epochs=12, batch_size=4, optimizer="sgd", learning_rate=3.0, momentum=0.9,
             early_stopping_patience=2, early_stopping_monitor="val_loss")
    )  # fmt: skip
    result = fit_and_evaluate(
        images, y, roles, ["a", "b"], LAYERS, {"rescale": 1 / 255}, settings, 2
    )
    history = result.history
    best = int(history.val_loss.idxmin())
    # a learning rate of 3 diverges: training stops `patience` epochs after the best one
    assert len(history) == best + 1 + 2 < 12
    val = np.flatnonzero(roles == "val")
    loss = result.model.evaluate(images[val].astype(np.float32), y[val], verbose=0)[0]
    assert loss == pytest.approx(history.val_loss.min(), rel=1e-4)


def test_phase_plan_for_backbones():
    settings = TrainSettings.from_config(dict(epochs=10, learning_rate=0.01))
    pretrained = {"name": "MobileNetV2", "weights": "imagenet", "trainable_layers": 20,
                  "head_epochs": 3, "fine_tune_lr_factor": 0.1}  # fmt: skip
    assert plan_phases(settings, None) == [Phase("all", 10, 0.01)]
    assert plan_phases(settings, pretrained) == [
        Phase("head", 3, 0.01),
        Phase("fine_tune", 7, pytest.approx(0.001)),
    ]
    assert plan_phases(settings, {**pretrained, "trainable_layers": 0}) == [Phase("head", 10, 0.01)]
    assert plan_phases(settings, {**pretrained, "weights": "none"}) == [Phase("full", 10, 0.01)]
    from mobileclf.errors import UserError

    with pytest.raises(UserError, match=r"architectures\.m\.backbone\.head_epochs"):
        plan_phases(settings, {**pretrained, "head_epochs": 10}, arch="m")


def test_architecture_batch_size_overrides_training():
    training = {"batch_size": 10, "epochs": 3}
    assert effective_training({"batch_size": 32}, training) == {"batch_size": 32, "epochs": 3}
    assert effective_training({"layers": []}, training) == training
