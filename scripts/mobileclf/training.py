"""Train one model on one fold (or on all non-holdout images) and evaluate it.

The same function serves the CV grid, the reduction grid (many cells in one process, so
TensorFlow starts once per block) and the final model, so all of them compute the same
thing for the same config.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mobileclf.architectures import build_model
from mobileclf.augmentation import augment_fn, input_normalization
from mobileclf.metrics import classification_metrics


@dataclass(frozen=True)
class TrainSettings:
    """The ``training`` section of the config."""

    epochs: int = 50
    batch_size: int = 10
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    momentum: float = 0.0
    early_stopping_patience: int | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, section: dict) -> TrainSettings:
        known = {
            "epochs",
            "batch_size",
            "optimizer",
            "learning_rate",
            "momentum",
            "early_stopping_patience",
        }
        return cls(
            **{k: v for k, v in section.items() if k in known},
            extra={k: v for k, v in section.items() if k not in known},
        )


@dataclass
class FitResult:
    """What one training produced: the model, its history and test metrics."""

    model: object
    history: pd.DataFrame
    metrics: dict


def make_optimizer(settings: TrainSettings):
    import keras

    if settings.optimizer == "adam":
        return keras.optimizers.Adam(settings.learning_rate)
    if settings.optimizer == "sgd":
        return keras.optimizers.SGD(settings.learning_rate, momentum=settings.momentum)
    raise ValueError(f"training.optimizer must be sgd or adam, not {settings.optimizer!r}")


def _dataset(
    images: np.ndarray, labels: np.ndarray, batch: int, seed: int, augment=None, shuffle=False
):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        data = data.map(augment, num_parallel_calls=1)
    return data.prefetch(2)


def fit_and_evaluate(
    images: np.ndarray,
    y: np.ndarray,
    roles: np.ndarray,
    labels: list[str],
    layers: list[dict],
    generator: dict,
    settings: TrainSettings,
    seed: int,
    positive_index: int = 1,
    evaluate_role: str = "test",
) -> FitResult:
    """Train on rows whose role is ``train`` (``val`` for monitoring), test on ``evaluate_role``.

    ``images`` is the (N, S, S, 3) uint8 array (a memory map is fine), ``y`` the class
    indices, ``roles`` one role per row (a fold column of splits.csv).
    """
    import keras

    train = np.flatnonzero(roles == "train")
    val = np.flatnonzero(roles == "val")
    test = np.flatnonzero(roles == evaluate_role)
    train_x = np.asarray(images[train])
    scale, mean, std = input_normalization(generator, train_x)
    model = build_model(layers, images.shape[1], len(labels), scale, mean, std)
    model.compile(
        optimizer=make_optimizer(settings),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    train_data = _dataset(
        train_x, y[train], settings.batch_size, seed, augment_fn(generator, seed), shuffle=True
    )
    val_data = (
        _dataset(np.asarray(images[val]), y[val], settings.batch_size, seed) if len(val) else None
    )
    callbacks = []
    if settings.early_stopping_patience and val_data is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=settings.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    started = time.perf_counter()
    history = model.fit(
        train_data, validation_data=val_data, epochs=settings.epochs, callbacks=callbacks, verbose=2
    )
    train_seconds = time.perf_counter() - started
    history_frame = pd.DataFrame(history.history)
    history_frame.insert(0, "epoch", np.arange(1, len(history_frame) + 1))
    metrics: dict = {}
    if len(test):
        probabilities = model.predict(
            np.asarray(images[test], dtype=np.float32),
            batch_size=max(settings.batch_size, 32),
            verbose=0,
        )
        metrics = classification_metrics(y[test], probabilities, labels, positive_index)
    metrics.update(
        n_params=int(model.count_params()),
        n_train=len(train),
        n_val=len(val),
        n_test=len(test),
        train_seconds=round(train_seconds, 3),
        epochs_run=len(history_frame),
        input_scale=scale,
        input_mean=mean.tolist(),
        input_std=std.tolist(),
    )
    return FitResult(model, history_frame, metrics)
