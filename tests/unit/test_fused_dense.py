"""The fused dense backward + Adam op (mobileclf/train/fused_dense.py) computes what
TensorFlow's MatMul gradients and ResourceApplyAdam compute, and Keras' Adam, to float32
rounding; training falls back to the stock path wherever the op does not apply.

In CI (CI=true) the op library must have been built by ``make install``: a missing
library fails these tests instead of skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

MODEL1 = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["architectures"]["model1"][
    "layers"
]
SMALL = [
    {"type": "conv", "filters": 4},
    {"type": "maxpool"},
    {"type": "flatten"},
    {"type": "dense", "units": 21},  # not a multiple of the op's 16 lanes: its tail runs too
]


@pytest.fixture
def op():
    from mobileclf.train import fused_dense

    fused_dense.load_op.cache_clear()
    loaded = fused_dense.load_op()
    if loaded is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{fused_dense.LIBRARY} is not built or does not load: run make install")
        pytest.skip("the fused dense op is not built here (make install builds it)")
    return loaded


def _inputs(n: int, units: int, batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.normal(size=(batch, n)), 0).astype(np.float32)  # ReLU-like: zeros
    dz = rng.normal(scale=0.1, size=(batch, units)).astype(np.float32)
    w = rng.normal(scale=0.05, size=(n, units)).astype(np.float32)
    m = rng.normal(scale=0.01, size=(n, units)).astype(np.float32)
    v = rng.uniform(1e-6, 1e-3, size=(n, units)).astype(np.float32)
    return x, dz, w, m, v


def _run_op(op, x, dz, w, m, v, step: int, lr: float = 1e-3):
    import tensorflow as tf

    var, mv, vv = (tf.Variable(a) for a in (w, m, v))
    f = lambda a: tf.constant(a, tf.float32)  # noqa: E731
    dx = op(
        x=x, dz=dz, var=var.handle, m=mv.handle, v=vv.handle,
        beta1_power=f(0.9**step), beta2_power=f(0.999**step), lr=f(lr),
        beta1=f(0.9), beta2=f(0.999), epsilon=f(1e-7),
    )  # fmt: skip
    return [np.asarray(t) for t in (dx, var, mv, vv)]


def _run_stock(x, dz, w, m, v, step: int, lr: float = 1e-3):
    import tensorflow as tf

    var, mv, vv = (tf.Variable(a) for a in (w, m, v))
    f = lambda a: tf.constant(a, tf.float32)  # noqa: E731
    dx = tf.matmul(dz, var, transpose_b=True)
    tf.raw_ops.ResourceApplyAdam(
        var=var.handle, m=mv.handle, v=vv.handle,
        beta1_power=f(0.9**step), beta2_power=f(0.999**step), lr=f(lr),
        beta1=f(0.9), beta2=f(0.999), epsilon=f(1e-7), grad=tf.matmul(x, dz, transpose_a=True),
    )  # fmt: skip
    return [np.asarray(t) for t in (dx, var, mv, vv)]


@pytest.mark.parametrize("n,units,batch", [(300, 37, 10), (2000, 128, 7), (64, 5, 1)])
def test_op_equals_matmul_gradients_and_resource_apply_adam(op, n, units, batch):
    x, dz, w, m, v = _inputs(n, units, batch)
    fused = _run_op(op, x, dz, w, m, v, step=3)
    stock = _run_stock(x, dz, w, m, v, step=3)
    names = ["dX", "W", "m", "v"]
    for name, got, expected, before in zip(names, fused, stock, [None, w, m, v], strict=True):
        if before is not None:
            assert np.max(np.abs(expected - before)) > 1e-5, f"{name} did not move"
        # the gradient is summed in another order: a few float32 ulps, no more
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2e-6 * scale, err_msg=name)
    # a real change of the maths (learning rate +1%) is far outside that tolerance
    changed = _run_op(op, x, dz, w, m, v, step=3, lr=1.01e-3)
    assert np.max(np.abs(changed[1] - stock[1])) > 50 * 2e-6 * np.max(np.abs(stock[1]))


def _train(layers, size: int, fuse: bool, steps: int = 12, seed: int = 3, **adam):
    """Weights after ``steps`` train_on_batch steps, and how many layers were fused."""
    import keras

    from mobileclf.train import fast_optimizers, fused_dense
    from mobileclf.train.architectures import build_model

    keras.utils.set_random_seed(seed)
    model = build_model(layers, size, 3, scale=1 / 255)
    model.compile(
        optimizer=fast_optimizers.adam(0.003, **adam), loss="sparse_categorical_crossentropy"
    )
    fused = fused_dense.attach(model) if fuse else 0
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        x = rng.integers(0, 256, (8, size, size, 3)).astype(np.float32)
        losses.append(float(model.train_on_batch(x, rng.integers(0, 3, 8))))
    return [np.asarray(w) for w in model.get_weights()], losses, fused


def test_training_with_the_op_equals_keras_adam_training(op, monkeypatch):
    from mobileclf.train import fused_dense

    monkeypatch.setattr(fused_dense, "MIN_PARAMETERS", 0)
    initial, _, _ = _train(SMALL, 12, fuse=False, steps=0)
    reference, ref_losses, none = _train(SMALL, 12, fuse=False)
    fused, losses, count = _train(SMALL, 12, fuse=True)
    assert (none, count) == (0, 2)  # the hidden Dense and the classifier
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    for got, expected, before in zip(fused, reference, initial, strict=True):
        moved = np.max(np.abs(expected - before))
        assert moved > 1e-3
        # far below 0.1% of how far the 12 steps moved every variable
        assert np.max(np.abs(got - expected)) < 1e-3 * moved


def test_attach_fuses_the_large_kernel_of_model1_and_nothing_it_cannot(op, monkeypatch):
    import keras

    from mobileclf.train import fast_optimizers, fused_dense
    from mobileclf.train.architectures import build_model

    def attached(optimizer, size=50):
        model = build_model(MODEL1, size, 2)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
        return fused_dense.attach(model), model

    count, model = attached(fast_optimizers.adam(0.001))
    assert count == 1  # dense_3 (18432 x 128); the 128 x 2 classifier is below the threshold
    layer = model.get_layer("dense_3")
    assert "call" in vars(layer) and model.optimizer.fused_kernels == {id(layer.kernel)}
    fused_dense.detach(model)
    assert "call" not in vars(layer)  # the stock call back: saved models are plain Keras
    assert attached(fast_optimizers.adam(0.001), size=16)[0] == 0  # 3528 x 128: too small
    for optimizer in (
        keras.optimizers.Adam(0.001),  # not mobileclf's: its update_step would run too
        fast_optimizers.adam(0.001, weight_decay=0.01),
        fast_optimizers.adam(0.001, clipnorm=1.0),
        fast_optimizers.adam(0.001, amsgrad=True),
        fast_optimizers.sgd(0.01, momentum=0.9),
    ):
        assert attached(optimizer)[0] == 0, optimizer.get_config()
    monkeypatch.setenv(fused_dense.ENV, "0")
    fused_dense.load_op.cache_clear()
    assert attached(fast_optimizers.adam(0.001))[0] == 0


def test_a_missing_library_falls_back_with_one_line(op, monkeypatch, tmp_path, caplog):
    from mobileclf.train import fused_dense

    monkeypatch.setattr(fused_dense, "MIN_PARAMETERS", 0)
    monkeypatch.setattr(fused_dense, "LIBRARY", tmp_path / "dense_grad_adam.so")
    fused_dense.load_op.cache_clear()
    with caplog.at_level("INFO", logger=fused_dense.__name__):
        _, losses, count = _train(SMALL, 12, fuse=True, steps=3)
    assert count == 0 and np.all(np.isfinite(losses))
    assert [r.message for r in caplog.records] == [
        "fused dense backward + Adam: dense_grad_adam.so is not built (make install); stock kernels"
    ]
    (tmp_path / "dense_grad_adam.so").write_bytes(b"not a library")
    fused_dense.load_op.cache_clear()
    assert fused_dense.load_op() is None  # does not load: logged, stock kernels
    fused_dense.load_op.cache_clear()


_THREADS_PROBE = """
import hashlib, json, sys
sys.path.insert(0, {scripts!r})
sys.path[:0] = [{tests!r}, {unit!r}]
from mobileclf import tf_runtime
tf_runtime.configure({threads}, 0)
import test_fused_dense as t
from mobileclf.train import fused_dense
x, dz, w, m, v = t._inputs(4000, 128, 10)
out = t._run_op(fused_dense.load_op(), x, dz, w, m, v, step=2)
print(json.dumps([float(a.astype("float64").sum()) for a in out]))
print(hashlib.sha256(b"".join(a.tobytes() for a in out)).hexdigest())
"""


def test_op_results_do_not_depend_on_the_thread_count(op):
    """Each kernel row is computed by one thread in a fixed order: 1 and 2 threads give
    the same bits (TensorFlow's own MatMul does not promise that)."""
    digests = []
    for threads in (1, 2):
        code = _THREADS_PROBE.format(
            scripts=str(REPO / "scripts"),
            tests=str(REPO / "tests"),
            unit=str(Path(__file__).parent),
            threads=threads,
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        lines = done.stdout.strip().splitlines()
        digests.append((lines[-1], json.loads(lines[-2])))
    assert digests[0] == digests[1]
