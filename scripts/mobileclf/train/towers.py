"""The k folds of one CV cell trained side by side: k towers in one traced graph.

An all-folds job (``train_cv_folds``) used to train its folds one after the other: k
Python training loops and k traced graphs, while at small sizes a step is so short that
the loop, the tracing and the per-op overheads cost more than the arithmetic. Here every
fold is still built exactly as a one-fold job builds it (``fit.prepare_fit`` after
``keras.utils.set_random_seed(fold seed)``: same initial weights, dropout seeds, shuffle
order, augmentation draws, featurewise statistics) and compiled with its own optimizer;
one ``tf.function`` then runs one training step of every fold: each tower's own
``train_step`` (Keras' code, so the loss, gradients, optimizer update and metrics are op
for op those of ``model.fit``) on the next batch of its own iterator. The validation
passes are batched the same way with ``test_step``. Each tower's ``train_step`` sits in
a ``tf.cond`` on a per-step mask, so a tower whose epoch has fewer batches (folds differ
by an image or two), or that early stopping has stopped, does nothing: no batch drawn,
no update, no optimizer step counted. Each tower is driven through its own Keras
callbacks (learning-rate schedule, EarlyStopping with best-weights restore, the step
timer, History) exactly as ``model.fit`` drives them, so its history ends where the
sequential training's ends. tests/unit/test_towers.py checks the trained weights, the
metrics.json numbers and history.csv against the sequential loop, fold by fold.

What is not reproduced falls back to the sequential loop (:func:`sequential_reason`).
Standard library only at import: the workflow's resource estimates read the threshold
at parse time; TensorFlow, Keras and pandas load when towers train.
"""

from __future__ import annotations

import logging
import math
import time

log = logging.getLogger(__name__)

TOWERS_BELOW = 128
"""Image sizes (px) below which an all-folds job trains its folds as towers.

Measured with bench/towers.py (model1, Adam, batch 10, the 5 folds of the 300-image CT
set, 3 and 15 epochs; figures in bench/README.md): the job's folds took 1.3-1.9x less wall
time as towers at 16, 32, 50, 64 and 100 px (1 thread, as the workflow runs sizes below
100 px; at 100 px also with 2 threads, as it runs 100-199 px: 1.73x), with the same
numbers. From 128 px it is not measured: there the k folds' training rows and models
held at once grow with the square of the size, and sizes from training.batch_folds_below
(150 by default) are one-fold jobs anyway.
"""


def sequential_reason(arch_spec: dict, generator_spec: dict, device: str, size: int) -> str | None:
    """Why the folds of an architecture × generator × size train one after another in an
    all-folds job, or None when they train as towers.

    Towers reproduce only what they were checked to reproduce bit for bit: plain models
    (a backbone's two fine-tuning phases and its layers' frozen states are not), plain
    generators (``phone_views`` draws from a per-image view stack), the CPU (a GPU job may
    compile with XLA or run mixed precision, where fusing differs), small sizes.
    """
    if "backbone" in arch_spec:
        return "a pretrained backbone's phases"
    if generator_spec.get("phone_views"):
        return "a phone_views generator"
    if device != "CPU":
        return f"the job runs on the {device}"
    if size >= TOWERS_BELOW:
        return f"size {size} px is not below {TOWERS_BELOW} px (mobileclf.train.towers)"
    return None


def _masked_step(models: list, method: str):
    """One traced function running ``model.<method>`` (Keras' train_step or test_step) of
    every model whose entry of ``active`` is true, on the next batch of its iterator."""
    import tensorflow as tf

    def step(iterators, active):
        for index, (model, iterator) in enumerate(zip(models, iterators, strict=True)):

            def run(model=model, iterator=iterator):
                getattr(model, method)(iterator.get_next())
                return tf.constant(True)

            tf.cond(active[index], run, lambda: tf.constant(False))

    return tf.function(step, autograph=False, reduce_retracing=True)


class _Tower:
    """One fold's model, data, callbacks and progress in the towers' loop."""

    def __init__(self, prepared, settings, timer) -> None:
        """``prepared``: a fold's mobileclf.train.fit.Prepared; ``settings`` its TrainSettings."""
        from dataclasses import replace

        import keras
        import numpy as np
        import tensorflow as tf

        from mobileclf.train import fused_dense
        from mobileclf.train.finetune import plan_phases
        from mobileclf.train.fit import make_optimizer
        from mobileclf.train.schedules import Schedule, callbacks

        self.model = prepared.model
        # tf.data's autotuning thread sleeps for a period that doubles as an iterator
        # lives (10 ms up to a minute), and deleting an iterator waits for it: 0.2, 0.6,
        # 1.3, 2.6, 4.6 s at the ends of epochs 1-5 (model1, 16 px). Nothing here is
        # autotuned (fixed map parallelism and prefetch), so the elements are the same.
        options = tf.data.Options()
        options.autotune.enabled = False
        self.train_data = prepared.train_data.with_options(options)
        self.val_data = prepared.val_data and prepared.val_data.with_options(options)
        self.steps = math.ceil(len(prepared.train) / settings.batch_size)
        self.val_steps = math.ceil(len(prepared.val) / settings.batch_size)
        (phase,) = plan_phases(settings, None)
        self.phase = phase
        self.model.compile(
            optimizer=make_optimizer(replace(settings, learning_rate=phase.learning_rate)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        # metrics and optimizer variables now, not inside the traced conditional step
        self.model._symbolic_build(data_batch=self.train_data.element_spec)
        # after the build: it uses the optimizer's slots
        self.fused = fused_dense.attach(self.model)
        self.trainable = int(sum(np.prod(w.shape) for w in self.model.trainable_weights))
        schedule = Schedule.from_config(settings.extra.get("schedule"))
        own = callbacks(
            schedule,
            phase.learning_rate,
            phase.epochs,
            0,
            settings.early_stopping_patience,
            settings.extra.get("early_stopping_monitor", "val_loss"),
            self.val_data is not None,
        )
        self.history = keras.callbacks.History()
        self.timer = timer
        self.callbacks = keras.callbacks.CallbackList(
            [*own, timer, self.history], model=self.model, epochs=phase.epochs, steps=self.steps
        )
        self.iterator = None
        self.spare = None
        self.in_epoch = False
        self.val_iterator = None
        self.running = True  # False once early stopping (or the last epoch) ended it
        self.logs: dict | None = None

    def finish(self) -> None:
        """What model.fit does after its last epoch (EarlyStopping restores the best)."""
        self.running = False
        self.model.optimizer.finalize_variable_values(self.model.trainable_weights)
        self.callbacks.on_train_end(logs=self.logs)

    def trained(self, seconds: float):
        """The fold's mobileclf.train.fit.Trained, as fit_phases and fit_and_evaluate give it."""
        import numpy as np
        import pandas as pd

        from mobileclf.train.fit import Trained

        frame = pd.DataFrame(self.history.history)
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        frame["phase"] = self.phase.name
        summary = dict(
            phase=self.phase.name,
            epochs_planned=self.phase.epochs,
            epochs_run=len(frame),
            learning_rate=self.phase.learning_rate,
            trainable_params=self.trainable,
        )
        history = pd.concat([frame], ignore_index=True)
        return Trained(history, [summary], self.timer.durations, seconds)


def _train_epoch(towers: list[_Tower], train_step, epoch: int) -> None:
    """One epoch of every running tower; a tower's mask is off once its batches run out."""
    import tensorflow as tf

    running = [t for t in towers if t.running]
    for tower in running:
        tower.model.reset_metrics()
        tower.callbacks.on_epoch_begin(epoch)
        tower.iterator = iter(tower.train_data)
        tower.spare = None  # after the new one exists, as Keras replaces its iterator
        tower.in_epoch = True
    for step in range(max(t.steps for t in running)):
        active = [t.running and t.in_epoch and step < t.steps for t in towers]
        for tower, on in zip(towers, active, strict=True):
            if on:
                tower.callbacks.on_train_batch_begin(step)
        train_step([t.iterator for t in towers], tf.constant(active))
        for tower, on in zip(towers, active, strict=True):
            if on:
                tower.callbacks.on_train_batch_end(step, {})
                # a callback may stop training mid-epoch, as model.fit allows
                tower.in_epoch = not tower.model.stop_training
    for tower in running:
        tower.logs = dict(tower.model.get_metrics_result())
        # model.fit's epoch iterator (keras EpochIterator, known cardinality) makes the next
        # epoch's iterator as soon as an epoch ends, and makes another at the next epoch's
        # start: the spare draws a reshuffle seed and prefetches (augmentation draws) too
        tower.spare = iter(tower.train_data)


def _validate(towers: list[_Tower], test_step) -> None:
    """The validation pass model.fit makes after each epoch, for every running tower."""
    import tensorflow as tf

    checked = [t for t in towers if t.running and t.val_data is not None]
    if not checked:
        return
    for tower in checked:
        tower.model.reset_metrics()
        tower.val_iterator = iter(tower.val_data)
    for step in range(max(t.val_steps for t in checked)):
        active = [t in checked and step < t.val_steps for t in towers]
        test_step([t.val_iterator or t.iterator for t in towers], tf.constant(active))
    for tower in checked:
        # (CallbackList.on_epoch_end turns these tensors into floats, as in model.fit)
        values = tower.model.get_metrics_result()
        tower.logs.update({f"val_{name}": value for name, value in values.items()})


def fit_towers(prepared: list, settings, timers: list) -> list:
    """Train every prepared fold (mobileclf.train.fit.Prepared) as one tower; return what
    each training gave (mobileclf.train.fit.Trained).

    ``timers`` are the folds' step timers (mobileclf.train.step_timer): each records the
    steps its fold took part in, i.e. the shared steps of all towers running then.
    """
    towers = [_Tower(p, settings, timer) for p, timer in zip(prepared, timers, strict=True)]
    models = [t.model for t in towers]
    train_step = _masked_step(models, "train_step")
    test_step = _masked_step(models, "test_step")
    for index, tower in enumerate(towers):
        log.info(
            "tower %d: %d epochs from learning rate %g, %d steps per epoch, "
            "%d trainable parameters, %d Dense layer(s) with fused backward + update",
            index,
            tower.phase.epochs,
            tower.phase.learning_rate,
            tower.steps,
            tower.trainable,
            tower.fused,
        )
        tower.model.stop_training = False
        tower.callbacks.on_train_begin()
    started = time.perf_counter()
    seconds = [0.0] * len(towers)
    for epoch in range(settings.epochs):
        if not any(t.running for t in towers):
            break
        _train_epoch(towers, train_step, epoch)
        _validate(towers, test_step)
        for index, tower in enumerate(towers):
            if not tower.running:
                continue
            tower.callbacks.on_epoch_end(epoch, tower.logs)
            log.info(
                "tower %d epoch %d: %s",
                index,
                epoch + 1,
                " ".join(f"{k} {float(v):.4f}" for k, v in tower.logs.items()),
            )
            if tower.model.stop_training or epoch == settings.epochs - 1:
                tower.finish()
                seconds[index] = time.perf_counter() - started
                log.info("tower %d done after %d epochs", index, epoch + 1)
    return [tower.trained(seconds[index]) for index, tower in enumerate(towers)]
