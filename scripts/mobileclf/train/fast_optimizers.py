"""Keras' Adam and SGD with each variable's update as one fused TensorFlow kernel.

Why: in model1 almost every parameter sits in the first Dense kernel (9.8 M at 100 px,
91 M at 300 px). Keras 3 writes the update as 6-8 element-wise ops per variable, each
allocating a temporary as large as the kernel; on a CPU the step then costs several
passes over memory plus page faults for every freshly mapped temporary. TensorFlow's
training kernels (ResourceApplyAdam, ResourceApplyKerasMomentum,
ResourceApplyGradientDescent, the ones tf.keras 2 used, hence the paper's TF 2.3) update
var, m and v in place in one multi-threaded pass.

The maths is Keras' (same formulas, same hyper-parameters, same state variables, so
checkpoints and ``get_config`` are unchanged). The one difference is float32 rounding of
the constants: the kernels compute ``1 - beta`` in float32 where Keras rounds it from
float64 (relative 1e-7 for beta_1 = 0.9, 1e-5 for beta_2 = 0.999 in the rate of the
second-moment average); tests/test_perf.py bounds the effect over many steps.

Anything the kernels do not cover (amsgrad, sparse gradients, non-TensorFlow backends,
dtype mismatches) goes through Keras' own update unchanged.
"""

from __future__ import annotations

FUSED_ADAM = "FusedAdam"


def _fusable(gradient, variable) -> bool:
    import keras
    import tensorflow as tf

    return (
        keras.backend.backend() == "tensorflow"
        and not isinstance(gradient, tf.IndexedSlices)
        and hasattr(variable, "handle")
        and gradient.dtype == variable.dtype
    )


def adam(learning_rate=0.001, **kwargs):
    """``keras.optimizers.Adam`` whose per-variable update is ResourceApplyAdam."""
    import keras
    import tensorflow as tf

    class FusedAdam(keras.optimizers.Adam):
        # kernels whose update mobileclf.train.fused_dense runs in their backward pass
        fused_kernels: set = frozenset()

        def _filter_empty_gradients(self, grads, variables):
            # those kernels get no gradient on purpose: not Keras' "no gradient" warning
            pairs = [
                (g, v)
                for g, v in zip(grads, variables, strict=True)
                if g is not None or id(v) not in self.fused_kernels
            ]
            return super()._filter_empty_gradients([g for g, _ in pairs], [v for _, v in pairs])

        def update_step(self, gradient, variable, learning_rate):
            if self.amsgrad or not _fusable(gradient, variable):
                return super().update_step(gradient, variable, learning_rate)
            dtype = variable.dtype
            local_step = tf.cast(self.iterations + 1, dtype)
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle,
                m=self._momentums[index].handle,
                v=self._velocities[index].handle,
                beta1_power=tf.pow(tf.cast(self.beta_1, dtype), local_step),
                beta2_power=tf.pow(tf.cast(self.beta_2, dtype), local_step),
                lr=tf.cast(learning_rate, dtype),
                beta1=tf.cast(self.beta_1, dtype),
                beta2=tf.cast(self.beta_2, dtype),
                epsilon=tf.cast(self.epsilon, dtype),
                grad=gradient,
            )

    return FusedAdam(learning_rate, **kwargs)


def sgd(learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
    """``keras.optimizers.SGD`` whose update is ResourceApply(KerasMomentum|GradientDescent)."""
    import keras
    import tensorflow as tf

    class FusedSGD(keras.optimizers.SGD):
        def update_step(self, gradient, variable, learning_rate):
            if not _fusable(gradient, variable):
                return super().update_step(gradient, variable, learning_rate)
            lr = tf.cast(learning_rate, variable.dtype)
            if self.momentum == 0:
                tf.raw_ops.ResourceApplyGradientDescent(
                    var=variable.handle, alpha=lr, delta=gradient
                )
                return
            tf.raw_ops.ResourceApplyKerasMomentum(
                var=variable.handle,
                accum=self.momentums[self._get_variable_index(variable)].handle,
                lr=lr,
                grad=gradient,
                momentum=tf.cast(self.momentum, variable.dtype),
                use_nesterov=self.nesterov,
            )

    return FusedSGD(learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)


def portable(optimizer):
    """The stock Keras optimizer with ``optimizer``'s settings.

    A trained model is recompiled with it before anyone saves it: a ``model.keras`` whose
    compile config names FusedAdam/FusedSGD would load only where this module is imported
    (the export jobs, users' own scripts and apps load it with Keras alone).
    """
    import keras

    # under mixed precision Keras wraps the optimizer in a LossScaleOptimizer at compile
    # time (and does so again when the model is recompiled with the stock one)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    stock = next(c for c in type(optimizer).__mro__ if c.__module__.startswith("keras"))
    return keras.optimizers.deserialize(
        {"class_name": stock.__name__, "config": optimizer.get_config()}
    )
