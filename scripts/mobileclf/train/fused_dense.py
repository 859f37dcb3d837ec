"""Large Dense kernels: backward pass and Adam update in one pass over memory (CPU).

Why: model1's first Dense kernel holds almost every parameter, and on a CPU its backward
pass and update are memory-bound: TensorFlow reads the kernel for dX, writes the gradient
dW = x^T dz as a tensor as large as the kernel, then ResourceApplyAdam reads dW, W, m, v
and writes W, m, v. The custom op ``MobileclfDenseGradAdam`` (kernels/dense_grad_adam.cc,
built by ``make install``) does all of it in one pass per kernel row without storing dW,
24 bytes per parameter (bench/README.md, "Fused dense backward + update").

How: :func:`attach` gives each large Dense layer of a compiled model a ``call`` whose
matmul has a custom gradient: it runs the op with the optimizer's own slots, step and
learning rate, returns dX, and no gradient for the kernel, which :class:`FusedAdam
<mobileclf.train.fast_optimizers>` then skips. The maths is ResourceApplyAdam's on the
same gradient summed in another order: equal to Keras' update to float32 rounding
(tests/unit/test_fused_dense.py), and bit-for-bit reproducible whatever the thread count.

Falls back to the stock path, whose numbers are the same to rounding, when the op library
is missing or does not load (one log line says why), on a GPU, for an optimizer other
than plain Adam (schedules are fine; weight decay, clipping, EMA, gradient accumulation,
loss scaling are not fused), for LoRA or quantized layers, and for kernels below
:data:`MIN_PARAMETERS`. ``MOBILECLF_FUSED_DENSE=0`` turns it off (bench/fused_dense.py
compares both).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

LIBRARY = Path(__file__).parent / "kernels" / "dense_grad_adam.so"
ENV = "MOBILECLF_FUSED_DENSE"
# below this the stock kernels' extra passes stay in cache (model1's kernel at 16 px has
# 0.25 M parameters); the classifier layer (units = classes) is never worth it
MIN_PARAMETERS = 1 << 18
_FUSED_CALL = "_mobileclf_fused_call"


@functools.cache
def load_op():
    """The op's Python wrapper, or None (logged once) when it cannot be used here."""
    if os.environ.get(ENV, "1") == "0":
        log.info("fused dense backward + Adam: off (%s=0)", ENV)
        return None
    if not LIBRARY.exists():
        log.info(
            "fused dense backward + Adam: %s is not built (make install); stock kernels",
            LIBRARY.name,
        )
        return None
    needs = set(_sidecar().read_text().split()) if _sidecar().exists() else set()
    missing = needs - cpu_flags()
    if missing and Path("/proc/cpuinfo").exists():
        log.warning(
            "fused dense backward + Adam: %s was built for CPUs with %s, this one lacks %s; "
            "stock kernels (run make install here to rebuild it)",
            LIBRARY.name,
            ", ".join(sorted(needs)),
            ", ".join(sorted(missing)),
        )
        return None
    import tensorflow as tf

    try:
        return tf.load_op_library(str(LIBRARY)).mobileclf_dense_grad_adam
    except (tf.errors.NotFoundError, OSError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning(
            "fused dense backward + Adam: %s does not load (%s); stock kernels", LIBRARY, first
        )
        return None


def _sidecar() -> Path:
    return Path(str(LIBRARY) + ".cpu")


def cpu_flags() -> set[str]:
    """This CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def _plain_adam(optimizer) -> bool:
    from mobileclf.train.fast_optimizers import FUSED_ADAM

    return (
        type(optimizer).__name__ == FUSED_ADAM
        and not optimizer.amsgrad
        and not optimizer.weight_decay
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
    )


def _eligible(layer) -> bool:
    import keras

    kernel = getattr(layer, "_kernel", None)
    return (
        type(layer) is keras.layers.Dense
        and layer.trainable
        and kernel is not None
        and kernel.dtype == "float32"
        and layer.compute_dtype == "float32"
        and not layer.lora_enabled
        and getattr(layer, "quantization_mode", None) is None
        and kernel.shape[0] * kernel.shape[1] >= MIN_PARAMETERS
    )


def detach(model) -> None:
    """Give every layer of ``model`` its stock ``call`` back."""
    for layer in model._flatten_layers(include_self=False):
        if getattr(layer, _FUSED_CALL, False):
            object.__delattr__(layer, "call")
            object.__delattr__(layer, _FUSED_CALL)


def attach(model) -> int:
    """Fuse the backward pass and update of ``model``'s large Dense kernels.

    Call after ``model.compile`` (every compile: each phase has its own optimizer).
    Returns how many layers it fused; 0 means the stock path (see the module docstring).
    """
    import tensorflow as tf

    detach(model)
    optimizer = getattr(model, "optimizer", None)
    layers = [layer for layer in model._flatten_layers(include_self=False) if _eligible(layer)]
    if not layers or optimizer is None or not _plain_adam(optimizer):
        return 0
    if tf.config.list_logical_devices("GPU") or load_op() is None:
        return 0
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    for layer in layers:
        object.__setattr__(layer, "call", _fused_call(layer, optimizer, load_op()))
        object.__setattr__(layer, _FUSED_CALL, True)
    optimizer.fused_kernels = {id(layer.kernel) for layer in layers}
    return len(layers)


def _fused_call(layer, optimizer, op):
    import tensorflow as tf

    kernel = layer.kernel
    index = optimizer._get_variable_index(kernel)
    m, v = optimizer._momentums[index], optimizer._velocities[index]

    def backward(x, dz):
        # as FusedAdam.update_step: the step being taken is iterations + 1
        step = tf.cast(optimizer.iterations + 1, tf.float32)
        beta1 = tf.cast(optimizer.beta_1, tf.float32)
        beta2 = tf.cast(optimizer.beta_2, tf.float32)
        return op(
            x=x,
            dz=dz,
            var=kernel.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=tf.pow(beta1, step),
            beta2_power=tf.pow(beta2, step),
            lr=tf.cast(optimizer.learning_rate, tf.float32),
            beta1=beta1,
            beta2=beta2,
            epsilon=tf.cast(optimizer.epsilon, tf.float32),
        )

    @tf.custom_gradient
    def matmul(x):
        def grad(dz, variables=None):
            return backward(x, dz), [None] * len(variables or ())

        return tf.matmul(x, kernel.value), grad

    def call(inputs, training=None):
        shape = tf.shape(inputs)
        flat = tf.reshape(inputs, [-1, shape[-1]]) if inputs.shape.rank != 2 else inputs
        z = matmul(flat)
        if inputs.shape.rank != 2:
            z = tf.reshape(z, tf.concat([shape[:-1], [layer.units]], 0))
        if layer.bias is not None:
            z = z + layer.bias
        if layer.activation is not None:
            z = layer.activation(z)
        return z

    return call
