"""Training phases: one for plain models, two for pretrained backbones (fine-tuning).

A pretrained backbone (ImageNet or a local weights file) first trains only the head with
the backbone frozen (``head_epochs`` at ``training.learning_rate``), then unfreezes its
last ``trainable_layers`` layers and trains on at ``learning_rate * fine_tune_lr_factor``
for the remaining epochs (``training.epochs`` is the total). A large gradient from a
random head would otherwise wreck the pretrained features in the first epochs.

A backbone with ``weights: none`` has no features to protect: it trains in one ``full``
phase, everything trainable (freezing random features would train the head on noise).
The job's log says which phases ran; metrics.json lists them.

Each phase compiles with Keras' ``steps_per_execution`` (:func:`steps_per_execution`):
several train steps per call of the traced function. That saves a sixth of a 50 px step
(Python and callback overhead per call, less visible at larger sizes) and trains the same
weights bit for bit (bench/README.md, "Steps per execution").

Each phase gets a fresh optimizer, its own schedule (from the phase's base learning rate)
and its own early stopping; the history rows carry ``phase`` and ``learning_rate``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from mobileclf.errors import UserError
from mobileclf.train import fused_dense
from mobileclf.train.backbones import BackboneSpec, set_trainable
from mobileclf.train.schedules import Schedule, callbacks

log = logging.getLogger(__name__)


# Most train steps one call of the traced train function runs (Keras' steps_per_execution).
# model1, batch 10, one thread: a 50 px step costs 17% less with a whole epoch (19 steps)
# per call than with one, a 100 px step 5% less; the saving levels off from 10 steps per
# call, 25 is on the plateau (bench/spe.py, bench/README.md). The steps and their random
# draws are the same, so are the weights, bit for bit (tests/unit/
# test_steps_per_execution.py). Only per-batch callbacks would see fewer, longer batches:
# none of the training's acts per batch (schedules and early stopping act per epoch;
# StepTimer counts the steps of a call). 1 restores one step per call.
MAX_STEPS_PER_EXECUTION = 25


def steps_per_execution(train_data) -> int:
    """Steps per call for ``train_data`` (a batched tf.data.Dataset): its batches per
    epoch, at most MAX_STEPS_PER_EXECUTION (more than an epoch would only pad the
    epoch's one call); 1 when the dataset does not know its length (Keras' default)."""
    batches = int(train_data.cardinality())
    return max(1, min(batches, MAX_STEPS_PER_EXECUTION))


@dataclass(frozen=True)
class Phase:
    """One ``model.fit`` call: which layers train, for how long, from which learning rate."""

    name: str  # "all" (no backbone), "full", "head" or "fine_tune"
    epochs: int
    learning_rate: float


def effective_training(arch: dict, training: dict) -> dict:
    """The training section one architecture trains with: ``batch_size`` of the
    architecture (set by ``batch_sizes`` expansion in common.smk) overrides the global one.
    """
    if "batch_size" in arch:
        return {**training, "batch_size": int(arch["batch_size"])}
    return dict(training)


def plan_phases(settings, backbone: dict | None, arch: str = "?") -> list[Phase]:
    """The phases for ``settings`` (a :class:`mobileclf.train.fit.TrainSettings`)."""
    if backbone is None:
        return [Phase("all", settings.epochs, settings.learning_rate)]
    spec = BackboneSpec.from_config(backbone)
    if not spec.pretrained:
        return [Phase("full", settings.epochs, settings.learning_rate)]
    if spec.trainable_layers in (0, "0"):
        return [Phase("head", settings.epochs, settings.learning_rate)]
    if spec.head_epochs >= settings.epochs:
        raise UserError(
            f"architectures.{arch}.backbone.head_epochs ({spec.head_epochs}) leaves no epoch "
            f"for fine-tuning with training.epochs {settings.epochs} (the total); raise "
            "training.epochs or set backbone.trainable_layers: 0 to train only the head"
        )
    phases = [Phase("head", spec.head_epochs, settings.learning_rate)] if spec.head_epochs else []
    fine_rate = settings.learning_rate * spec.fine_tune_lr_factor
    return [*phases, Phase("fine_tune", settings.epochs - spec.head_epochs, fine_rate)]


def fit_phases(
    model,
    train_data,
    val_data,
    settings,
    make_optimizer: Callable,
    backbone: dict | None = None,
    arch: str = "?",
    extra_callbacks: tuple = (),
) -> tuple[pd.DataFrame, list[dict]]:
    """Compile and fit ``model`` phase by phase; return the joint history and a summary.

    ``make_optimizer(settings)`` makes each phase's optimizer (``settings`` with the phase's
    learning rate); ``extra_callbacks`` run in every phase. The history has one row per
    epoch run (``epoch`` counts across phases) with Keras' losses/metrics,
    ``learning_rate`` and ``phase``.
    """
    schedule = Schedule.from_config(settings.extra.get("schedule"))
    monitor = settings.extra.get("early_stopping_monitor", "val_loss")
    frames: list[pd.DataFrame] = []
    summary: list[dict] = []
    done = 0
    for phase in plan_phases(settings, backbone, arch):
        if backbone is not None:
            trainable = BackboneSpec.from_config(backbone).trainable_layers
            set_trainable(model, phase.name, trainable)
        model.compile(
            optimizer=make_optimizer(replace(settings, learning_rate=phase.learning_rate)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution(train_data),
        )
        fused = fused_dense.attach(model)
        trainable_params = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        log.info(
            "phase %s: %d epochs from learning rate %g (%s schedule), %d trainable parameters"
            ", %d Dense layer(s) with fused backward + update",
            phase.name,
            phase.epochs,
            phase.learning_rate,
            schedule.type,
            trainable_params,
            fused,
        )
        history = model.fit(
            train_data,
            validation_data=val_data,
            initial_epoch=done,
            epochs=done + phase.epochs,
            callbacks=[
                *callbacks(
                    schedule,
                    phase.learning_rate,
                    phase.epochs,
                    done,
                    settings.early_stopping_patience,
                    monitor,
                    val_data is not None,
                ),
                *extra_callbacks,
            ],
            verbose=2,
        )
        frame = pd.DataFrame(history.history)
        frame.insert(0, "epoch", np.arange(done + 1, done + len(frame) + 1))
        frame["phase"] = phase.name
        frames.append(frame)
        done += len(frame)
        summary.append(
            dict(
                phase=phase.name,
                epochs_planned=phase.epochs,
                epochs_run=len(frame),
                learning_rate=phase.learning_rate,
                trainable_params=trainable_params,
            )
        )
    return pd.concat(frames, ignore_index=True), summary
