"""Several train steps per call (Keras' steps_per_execution, mobileclf.train.finetune):
the same weights as one step per call, and per-step figures in metrics.json.

No timings are asserted (bench/spe.py measures them); the figures here are fixed numbers.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

LAYERS = [
    {"type": "conv", "filters": 4},
    {"type": "maxpool"},
    {"type": "flatten"},
    {"type": "dense", "units": 8},
    {"type": "dropout", "rate": 0.5},  # draws from the seed generator in every step
]
# an augmenting generator (Table 1 keys): random draws in the input pipeline every batch
AUGMENTING = {
    "rescale": 1 / 255,
    "rotation_range": 40,
    "horizontal_flip": True,
    "vertical_flip": True,
    "brightness_range": [0.2, 1.0],
    "featurewise_center": True,
}


def test_job_figures_count_steps_not_calls():
    """Calls of 4, 4 and 2 steps per epoch (10 steps of 5 images, spe 4), 3 epochs."""
    from mobileclf.train.step_timer import job_figures

    durations = [2.0, 0.4, 0.4] + [0.4, 0.4, 0.4] * 2  # the 2-step calls: 0.2 s per step
    steps = [4, 4, 2] * 3
    now = (time.time() - 100.0, 0.0)
    figures = job_figures(durations, n_train=50, epochs=3, batch_size=5, since=now, steps=steps)
    assert figures["train_steps"] == 30
    # 26 steps after the first call: 20 at 0.1 s (the 4-step calls), 6 at 0.2 s
    assert figures["step_seconds_median"] == 0.1
    assert figures["first_step_seconds"] == pytest.approx(2.0 - 3 * 0.1)
    assert figures["step_seconds_total"] == pytest.approx(5.2)
    assert figures["images_per_second"] == pytest.approx((150 - 20) / 3.2, abs=0.01)
    assert figures["outside_steps_share"] == pytest.approx(1 - 5.2 / 100, abs=0.01)


def test_job_figures_per_step_median_is_weighted_by_steps():
    """A one-step call does not count as much as a ten-step one."""
    from mobileclf.train.step_timer import job_figures

    figures = job_figures([1.0, 1.0, 0.5, 0.5], 100, 1, 4, steps=[1, 10, 1, 1])
    assert figures["step_seconds_median"] == 0.1  # unweighted: 0.5
    assert figures["first_step_seconds"] == 1.0  # one step: the call itself, no estimate
    assert job_figures([3.0], 40, 1, 10, steps=[4])["first_step_seconds"] is None
    with pytest.raises(ValueError, match="2 call durations but 1 step counts"):
        job_figures([1.0, 1.0], 40, 1, 10, steps=[4])


def test_call_steps_stop_at_the_epochs_last_step():
    """Keras reports a call's last step as if it were full (keras EpochIterator)."""
    from mobileclf.train.step_timer import call_steps

    assert call_steps(0, 3, 6) == 4
    assert call_steps(4, 7, 6) == 2  # the epoch's short last call
    assert call_steps(4, 7, None) == 4  # length unknown: as Keras says
    assert call_steps(5, 5, 6) == 1


def _train(monkeypatch, cap: int | None, generator: dict, epochs: int = 3):
    """fit_and_evaluate on 16 px images, at most ``cap`` steps per call (None: the
    default); returns the result and the StepTimer's steps per call."""
    import keras

    from mobileclf.train import finetune, step_timer
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    if cap is not None:
        monkeypatch.setattr(finetune, "MAX_STEPS_PER_EXECUTION", cap)
    timers = []

    def recorded():
        timers.append(make_timer())
        return timers[-1]

    make_timer = step_timer.step_timer
    monkeypatch.setattr(step_timer, "step_timer", recorded)
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (36, 16, 16, 3), dtype=np.uint8)
    roles = np.array(["train"] * 23 + ["val"] * 5 + ["test"] * 8)  # 6 steps of 4 per epoch
    settings = TrainSettings(epochs=epochs, batch_size=4, optimizer="adam", learning_rate=0.01)
    keras.utils.set_random_seed(7)
    result = fit_and_evaluate(
        images, np.arange(36) % 2, roles, ["a", "b"], LAYERS, generator, settings, seed=7
    )
    monkeypatch.undo()
    return result, timers[0].call_steps


@pytest.mark.parametrize("generator", [{"rescale": 1 / 255}, AUGMENTING], ids=["g1", "g3"])
def test_several_steps_per_call_train_the_same_weights(monkeypatch, generator):
    """Default (the whole epoch of 6 steps in one call) and 4 per call (a short last call)
    give the weights, history and figures of one step per call, bit for bit."""
    one, one_steps = _train(monkeypatch, 1, generator)
    default, default_steps = _train(monkeypatch, None, generator)
    short, short_steps = _train(monkeypatch, 4, generator)
    assert one_steps == [1] * 18
    assert default_steps == [6] * 3
    assert short_steps == [4, 2] * 3
    for other in (default, short):
        for mine, theirs in zip(one.model.get_weights(), other.model.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
        assert other.history.equals(one.history)
        assert other.metrics["accuracy"] == one.metrics["accuracy"]
        assert other.metrics["train_steps"] == math.ceil(23 / 4) * 3
    # the saved model is compiled again for saving (fit.finish_fit): one step per call
    assert default.model.get_compile_config()["steps_per_execution"] == 1


def test_steps_per_execution_is_the_epoch_at_most_the_cap():
    import tensorflow as tf

    from mobileclf.train.finetune import MAX_STEPS_PER_EXECUTION, steps_per_execution

    batches = tf.data.Dataset.range(100).batch(10)
    assert steps_per_execution(batches) == min(10, MAX_STEPS_PER_EXECUTION)
    assert steps_per_execution(tf.data.Dataset.range(1000).batch(10)) == MAX_STEPS_PER_EXECUTION
    assert steps_per_execution(batches.filter(lambda x: True)) == 1  # unknown length
    assert steps_per_execution(batches.repeat()) == 1  # infinite
