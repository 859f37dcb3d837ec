"""Speed changes that must not change what is computed, and run-time settings that must hold.

No timings are asserted here (they belong to bench/); these tests pin the maths of the
fused optimizers to Keras' own and check that the process settings are really applied.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO


def _train_weights(make_optimizer, steps: int = 30, seed: int = 5) -> list[np.ndarray]:
    """Weights of a small conv + dense model after ``steps`` optimizer steps on fixed batches."""
    import keras

    from mobileclf.train.architectures import build_model

    keras.utils.set_random_seed(seed)
    layers = [
        {"type": "conv", "filters": 4},
        {"type": "maxpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 16},
    ]
    model = build_model(layers, 12, 3, scale=1 / 255)
    model.compile(optimizer=make_optimizer(), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (steps, 8, 12, 12, 3)).astype(np.float32)
    labels = rng.integers(0, 3, (steps, 8))
    for x, y in zip(images, labels, strict=True):
        model.train_on_batch(x, y)
    return [np.asarray(w) for w in model.get_weights()]


def _gap(reference: list[np.ndarray], other: list[np.ndarray], initial: list[np.ndarray]) -> float:
    """Largest difference to ``reference``, per variable relative to how far training moved it."""
    return max(
        float(np.max(np.abs(r - o)) / np.max(np.abs(r - i)))
        for r, o, i in zip(reference, other, initial, strict=True)
    )


def _apply_sequence(optimizer, steps: int = 40) -> list[np.ndarray]:
    """A weight vector after each of ``steps`` updates with a fixed sequence of gradients."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    variable = keras.Variable(rng.normal(size=2000).astype(np.float32))
    states = []
    for _ in range(steps):
        optimizer.apply_gradients(
            [(tf.constant(rng.normal(size=2000).astype(np.float32)), variable)]
        )
        states.append(np.array(variable))
    return states


def test_fused_adam_update_equals_keras_adam_to_float_rounding():
    import keras

    from mobileclf.train import fast_optimizers

    reference = _apply_sequence(keras.optimizers.Adam(0.01))
    fused = _apply_sequence(fast_optimizers.adam(0.01))
    assert np.max(np.abs(reference[-1] - reference[0])) > 0.1  # the weights really moved
    for step, (r, f) in enumerate(zip(reference, fused, strict=True), start=1):
        # a few float32 ulps of the weights (|w| < 8: ulp 9.5e-7), not growing with the steps
        np.testing.assert_allclose(f, r, rtol=0, atol=4e-6, err_msg=f"step {step}")


def test_fused_adam_trains_a_model_like_keras_adam():
    import keras

    from mobileclf.train import fast_optimizers

    initial = _train_weights(lambda: keras.optimizers.Adam(0.01), steps=0)
    reference = _train_weights(lambda: keras.optimizers.Adam(0.01))
    fused = _train_weights(lambda: fast_optimizers.adam(0.01))
    # 30 steps amplify rounding differences (ReLUs flip), yet they stay far below 0.2% of
    # the distance training moved each variable ...
    assert _gap(reference, fused, initial) < 2e-3
    # ... while a real change of the maths (learning rate +1%) shows up 25 times larger
    changed = _train_weights(lambda: keras.optimizers.Adam(0.0101))
    assert _gap(reference, changed, initial) > 25 * 2e-3


def test_fused_adam_keeps_keras_state_and_config():
    import keras

    from mobileclf.train import fast_optimizers

    optimizer = fast_optimizers.adam(0.003, beta_1=0.8)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (
        optimizer.get_config()
        == keras.optimizers.Adam(0.003, beta_1=0.8, name=optimizer.name).get_config()
    )


def test_trained_model_saves_with_stock_optimizer_and_loads_without_mobileclf(tmp_path):
    """fit_and_evaluate recompiles with the stock optimizer: model.keras loads in a process
    that cannot import mobileclf (users' scripts, the export jobs)."""
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (24, 16, 16, 3), dtype=np.uint8)
    y = np.arange(24) % 2
    roles = np.array(["train"] * 16 + ["test"] * 8)
    settings = TrainSettings.from_config({"epochs": 1, "batch_size": 8, "optimizer": "adam"})
    layers = [{"type": "flatten"}, {"type": "dense", "units": 4}]
    result = fit_and_evaluate(images, y, roles, ["a", "b"], layers, {}, settings, 0)
    assert type(result.model.optimizer).__name__ == "Adam"
    path = tmp_path / "model.keras"
    result.model.save(path)
    expected = result.model.predict(images[:4].astype(np.float32), verbose=0)
    code = (
        "import sys, json, numpy as np, keras\n"
        "assert not any('mobileclf' in p for p in sys.path)\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        "print(json.dumps([type(m.optimizer).__name__, m.predict(x, verbose=0).tolist()]))"
    )
    np.save(tmp_path / "x.npy", images[:4].astype(np.float32))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, probabilities = json.loads(out.stdout.strip().splitlines()[-1])
    assert name == "Adam"
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_fused_sgd_matches_keras_sgd(momentum, nesterov):
    import keras

    from mobileclf.train import fast_optimizers

    reference = _apply_sequence(keras.optimizers.SGD(0.05, momentum=momentum, nesterov=nesterov))
    fused = _apply_sequence(fast_optimizers.sgd(0.05, momentum=momentum, nesterov=nesterov))
    assert np.max(np.abs(reference[-1] - reference[0])) > 0.1
    for step, (r, f) in enumerate(zip(reference, fused, strict=True), start=1):
        np.testing.assert_allclose(f, r, rtol=0, atol=2e-6, err_msg=f"step {step}")


def _update_op_types(optimizer) -> set[str]:
    """Op types in the graph of one optimizer step on a dense variable."""
    import keras
    import tensorflow as tf

    variable = keras.Variable(np.ones((4, 3), dtype=np.float32))
    optimizer.build([variable])
    step = tf.function(lambda g: optimizer.apply_gradients([(g, variable)]))
    graph = step.get_concrete_function(tf.TensorSpec((4, 3), tf.float32)).graph
    ops = {op.type for op in graph.get_operations()}
    for function in graph._functions.values():  # ops inside nested functions (cond branches)
        ops |= {node.op for node in function.cached_definition.node_def}
    return ops


def test_fused_optimizers_run_one_kernel_per_variable():
    import keras

    from mobileclf.train import fast_optimizers

    assert "ResourceApplyAdam" in _update_op_types(fast_optimizers.adam(0.01))
    assert "ResourceApplyAdam" not in _update_op_types(keras.optimizers.Adam(0.01))
    assert "ResourceApplyKerasMomentum" in _update_op_types(fast_optimizers.sgd(0.01, momentum=0.9))
    assert "ResourceApplyGradientDescent" in _update_op_types(fast_optimizers.sgd(0.01))


def test_training_uses_the_fused_optimizers():
    from mobileclf.train.fit import TrainSettings, make_optimizer

    adam = make_optimizer(TrainSettings(optimizer="adam", learning_rate=0.002))
    sgd = make_optimizer(TrainSettings(optimizer="sgd", learning_rate=0.02, momentum=0.5))
    assert type(adam).__name__ == "FusedAdam" and float(adam.learning_rate) == pytest.approx(0.002)
    assert type(sgd).__name__ == "FusedSGD" and sgd.momentum == 0.5


_RUNTIME_PROBE = """
import json, sys
sys.path.insert(0, {scripts!r})
from mobileclf import tf_runtime
tf_runtime.configure({threads}, 0)
import tensorflow as tf
tf.reduce_sum(tf.ones([256, 256]))
try:
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
except ValueError:  # only the BFC allocator keeps statistics
    peak = None
print(json.dumps({{"intra": tf.config.threading.get_intra_op_parallelism_threads(),
                  "inter": tf.config.threading.get_inter_op_parallelism_threads(),
                  "bfc_peak": peak}}))
"""


def _probe_runtime(threads: int, **env: str) -> dict:
    """tf_runtime.configure in a fresh process (allocator and pools are fixed per process)."""
    code = _RUNTIME_PROBE.format(scripts=str(REPO / "scripts"), threads=threads)
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environment, **env},
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_runtime_threads_and_allocator_are_applied():
    configured = _probe_runtime(3)
    assert configured["intra"] == 3 and configured["inter"] == 2
    assert configured["bfc_peak"] >= 256 * 256 * 4  # the BFC allocator served the tensor
    # the user can still switch it off, and the probe sees the difference. With oneDNN on
    # (TensorFlow's default on CPUs with AVX-512) oneDNN's own allocator, BFC-based too,
    # serves CPU tensors whatever the variable says, so the probe turns oneDNN off.
    assert _probe_runtime(1, TF_CPU_ALLOCATOR_USE_BFC="0", TF_ENABLE_ONEDNN_OPTS="0") == {
        "intra": 1,
        "inter": 1,
        "bfc_peak": None,
    }


def _kernel_peak_rss_mb() -> float:
    """This process's peak resident memory as the kernel reports it in /proc (VmHWM, KiB):
    an independent reading of what getrusage's ru_maxrss reports."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024


def _assert_is_this_process_peak(reported: float, before: float, after: float) -> None:
    """``reported`` (MiB, rounded to 0.1) was this process's peak while it was computed: not
    below the peak already reached before, not above the peak reached after, within 4 MiB.

    Linux keeps resident-set counters per thread and folds them into the process's total
    lazily (SPLIT_RSS_COUNTING: up to 64 pages a thread), so two readings of VmHWM a moment
    apart can differ by a few hundred KiB either way with TensorFlow's threads running
    (seen: 768.46 before, 768.25 after). 4 MiB still fails a wrong unit (KiB read as MiB
    or bytes: 1024x) or another process's peak."""
    assert before - 4 <= reported <= after + 4, (before, reported, after)


def test_job_figures_from_step_durations():
    from mobileclf.train.step_timer import job_figures

    before = _kernel_peak_rss_mb()
    # clocks started 100 s ago (``since``): the made-up 2.8 s of steps are 2.8% of them,
    # whatever ran in this process before (alone, a young process is shorter than 2.8 s)
    started = time.time() - 100.0
    figures = job_figures(
        [2.0, 0.1, 0.3, 0.2, 0.2], n_train=25, epochs=2, batch_size=10, since=(started, 0.0)
    )
    after = _kernel_peak_rss_mb()
    assert figures["train_steps"] == 5
    assert figures["first_step_seconds"] == 2.0
    assert figures["step_seconds_median"] == 0.2  # tracing (first step) excluded
    assert figures["step_seconds_total"] == pytest.approx(2.8)
    assert figures["images_per_second"] == pytest.approx((50 - 10) / 0.8)
    assert figures["outside_steps_share"] == pytest.approx(1 - 2.8 / 100, abs=0.01)
    _assert_is_this_process_peak(figures["peak_rss_mb"], before, after)


def test_training_records_step_figures():
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)
    y = np.tile([0, 1], 20)
    roles = np.array(["train"] * 23 + ["val"] * 5 + ["test"] * 12)
    layers = [
        {"type": "conv", "filters": 4},
        {"type": "maxpool"},
        {"type": "flatten"},
        {"type": "dense", "units": 8},
    ]
    settings = TrainSettings(epochs=2, batch_size=8, optimizer="adam", learning_rate=0.001)
    before = _kernel_peak_rss_mb()
    metrics = fit_and_evaluate(
        images, y, roles, ["a", "b"], layers, {"rescale": 1 / 255}, settings, seed=1
    ).metrics
    after = _kernel_peak_rss_mb()
    assert metrics["train_steps"] == 2 * 3  # ceil(23 / 8) batches per epoch
    assert metrics["images_per_second"] > 0
    assert metrics["step_seconds_total"] < metrics["process_seconds"]
    assert 0 < metrics["outside_steps_share"] < 1
    # the peak of this very process (TensorFlow loaded), read by the kernel around the fit
    _assert_is_this_process_peak(metrics["peak_rss_mb"], before, after)


def test_mixed_precision_is_set_only_for_jobs_with_a_gpu():
    import keras

    from mobileclf.tf_runtime import set_precision

    try:
        assert set_precision(True, "CPU") == "float32"  # CPUs emulate float16: slower
        assert keras.mixed_precision.global_policy().name == "float32"
        assert set_precision(False, "GPU") == "float32"  # opt-in: it changes the numbers
        assert set_precision(True, "GPU") == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _cv_data(n_per_class: int = 24, size: int = 16):
    """Two separable classes (dark and bright images) with two folds of train/val/test roles."""
    import pandas as pd

    from mobileclf.data.datasets import ResizedData

    rng = np.random.default_rng(1)
    dark = rng.integers(0, 90, (n_per_class, size, size, 3))
    bright = rng.integers(160, 256, (n_per_class, size, size, 3))
    images = np.concatenate([dark, bright]).astype(np.uint8)
    y = np.repeat([0, 1], n_per_class)
    roles = np.array(["train"] * 6 + ["val"] + ["test"])[np.arange(len(y)) % 8]
    splits = pd.DataFrame({"fold0": roles, "fold1": np.roll(roles, 3)})
    return ResizedData(images, y, ["dark", "bright"], splits)


@pytest.mark.parametrize("device, expected", [("GPU", "mixed_float16"), ("CPU", "float32")])
def test_mixed_precision_cv_jobs_keep_the_policy_in_every_fold(tmp_path, device, expected):
    """An all-folds job clears the Keras session between folds, which resets the global
    dtype policy: every fold must still train under the job's policy. "GPU" is only the
    job's label here; mixed_float16 also computes (slowly) on a CPU."""
    import keras

    from mobileclf.train.cv import Cell, FoldOutputs, train_folds

    training = dict(
        epochs=6, batch_size=8, optimizer="adam", learning_rate=0.003, mixed_precision=True
    )
    layers = [{"type": "conv", "filters": 4}, {"type": "maxpool"}, {"type": "flatten"}]
    cell = Cell("tiny", "g1", {"layers": layers}, {"rescale": 1 / 255}, training, 1)
    folds = [
        FoldOutputs(f, 7 + f, 0, tmp_path / f"m{f}.json", tmp_path / f"h{f}.csv") for f in (0, 1)
    ]
    try:
        train_folds(_cv_data(), cell, folds, device)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for fold in folds:
        metrics = json.loads(fold.metrics.read_text())
        assert metrics["status"] == "ok" and metrics["dtype_policy"] == expected
        # the float32 softmax keeps the loss finite and the classes learnable in float16
        assert metrics["accuracy"] >= 0.75
        history = np.genfromtxt(fold.history, delimiter=",", names=True)
        assert len(history) == 6 and np.all(np.isfinite(history["loss"]))


def test_softmax_stays_float32_under_mixed_precision():
    import keras

    from mobileclf.train.architectures import build_model

    layers = [{"type": "conv", "filters": 4}, {"type": "flatten"}, {"type": "dense", "units": 8}]
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(layers, 12, 3, scale=1 / 255)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    computes = {layer.name: layer.compute_dtype for layer in model.layers[1:]}
    assert computes.pop("probabilities") == "float32"
    assert set(computes.values()) == {"float16"}
    probabilities = model(np.full((2, 12, 12, 3), 100, np.float32))
    assert probabilities.dtype == "float32"
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-6)
