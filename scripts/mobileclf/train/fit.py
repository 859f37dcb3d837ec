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

from mobileclf.metrics import classification_metrics
from mobileclf.train import fast_optimizers, fused_dense, step_timer
from mobileclf.train.architectures import build_model
from mobileclf.train.augmentation import augment_fn, input_normalization, view_draw_fn
from mobileclf.train.backbones import BackboneSpec, ignored_generator_keys
from mobileclf.train.finetune import fit_phases
from mobileclf.train.phone_views import PhoneViews, PhoneViewsError


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
    # Keras' Adam/SGD maths with one fused kernel per variable (see fast_optimizers)
    if settings.optimizer == "adam":
        return fast_optimizers.adam(settings.learning_rate)
    if settings.optimizer == "sgd":
        return fast_optimizers.sgd(settings.learning_rate, momentum=settings.momentum)
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


def _phone_dataset(
    images: np.ndarray, views: np.ndarray, labels: np.ndarray, batch: int, seed: int, spec: dict
):
    """Training data of a ``phone_views`` generator: per epoch and image, the plain image or
    one of its K precomputed views (view_draw_fn), then the spec's Table 1 augmentation.

    ``plain_pass``: every epoch shows each image twice, once plain (what the generator
    without phone_views trains on) and once drawn as above, the 2n images shuffled
    together (seeded, afresh each epoch): twice the steps per epoch. ``draws_per_epoch``
    m > 1 draws m times per image and epoch (m + 1 copies with plain_pass): more phone
    exposure without less plain exposure, at (m + 1) / 2 times plain_pass's steps."""
    import tensorflow as tf

    stack = np.concatenate([images[:, None], views], axis=1)  # (n, K+1, S, S, 3) uint8
    data = tf.data.Dataset.from_tensor_slices((stack, labels))
    section = spec["phone_views"]
    draws = int(section.get("draws_per_epoch", 1))
    # warm-up in draws: epochs × images × draws per image and epoch
    warm_up = int(section.get("plain_epochs", 0)) * len(stack) * draws
    draw = view_draw_fn(section["plain_probability"], seed, warm_up)
    plain_pass = bool(section.get("plain_pass", False))
    if plain_pass or draws > 1:

        def copies(image_stack, label):
            drawn = [draw(image_stack, label)[0] for _ in range(draws)]
            shown = [image_stack[0], *drawn] if plain_pass else drawn
            return tf.stack(shown), tf.stack([label] * len(shown))

        # draws in image order (as with one copy), then the union is shuffled; unbatch
        # forgets the length, which Keras' steps per call need
        count = (int(plain_pass) + draws) * len(stack)
        data = data.map(copies).unbatch()
        data = data.apply(tf.data.experimental.assert_cardinality(count))
        data = data.shuffle(count, seed=seed, reshuffle_each_iteration=True)
    else:
        data = data.shuffle(len(stack), seed=seed, reshuffle_each_iteration=True)
        data = data.map(draw)
    data = data.batch(batch).map(lambda x, y: (tf.cast(x, tf.float32), y))
    augment = augment_fn(spec, seed)
    if augment is not None:
        data = data.map(augment, num_parallel_calls=1)
    return data.prefetch(2)


def _training_data(images, y, train, settings, seed, generator, phone_views):
    """The training dataset: plain (with Table 1 augmentation) or drawn from phone views,
    which only ever come from the ``train`` rows (PhoneViews.for_training checks)."""
    if not generator.get("phone_views"):
        return _dataset(
            images, y[train], settings.batch_size, seed, augment_fn(generator, seed), shuffle=True
        )
    if phone_views is None:
        raise PhoneViewsError(
            "this generator has a phone_views section but the job got no views file; "
            "run it through the workflow (rule phone_views)"
        )
    views = phone_views.for_training(train)
    return _phone_dataset(images, views, y[train], settings.batch_size, seed, generator)


def _normalisation(generator: dict, backbone: dict | None, train_x: np.ndarray):
    """(scale, mean, std) of the model's input layers, and the generator keys a backbone
    ignores (it normalises raw 0..255 RGB itself, see mobileclf.train.backbones)."""
    if backbone is None:
        return (*input_normalization(generator, train_x), [])
    ignored = ignored_generator_keys(generator, BackboneSpec.from_config(backbone))
    return (*input_normalization({}, train_x), ignored)


def _test_metrics(model, images, y, test, labels, positive_index: int, batch_size: int) -> dict:
    """Classification metrics on the ``test`` rows; empty when there are none."""
    if not len(test):
        return {}
    probabilities = model.predict(
        np.asarray(images[test], dtype=np.float32), batch_size=max(batch_size, 32), verbose=0
    )
    return classification_metrics(y[test], probabilities, labels, positive_index)


@dataclass
class Prepared:
    """One training before its fit: the fresh model, its datasets and the row indices."""

    model: object
    train_data: object
    val_data: object
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    normalization: tuple  # (scale, mean, std) of the model's input layers
    ignored: list


def prepare_fit(
    images: np.ndarray,
    y: np.ndarray,
    roles: np.ndarray,
    labels: list[str],
    layers: list[dict],
    generator: dict,
    settings: TrainSettings,
    seed: int,
    *,
    evaluate_role: str = "test",
    backbone: dict | None = None,
    arch: str = "?",
    phone_views: PhoneViews | None = None,
) -> Prepared:
    """Build the model and datasets of one training, in fit_and_evaluate's order.

    Split out so that the CV towers (:mod:`mobileclf.train.towers`) build each fold's
    model and data exactly as a one-fold training does: the same draws from the seeds.
    """
    train = np.flatnonzero(roles == "train")
    val = np.flatnonzero(roles == "val")
    test = np.flatnonzero(roles == evaluate_role)
    train_x = np.asarray(images[train])
    scale, mean, std, ignored = _normalisation(generator, backbone, train_x)
    model = build_model(
        layers, images.shape[1], len(labels), scale, mean, std, backbone=backbone, arch=arch
    )
    train_data = _training_data(train_x, y, train, settings, seed, generator, phone_views)
    val_data = (
        _dataset(np.asarray(images[val]), y[val], settings.batch_size, seed) if len(val) else None
    )
    return Prepared(model, train_data, val_data, train, val, test, (scale, mean, std), ignored)


@dataclass
class Trained:
    """What fitting a :class:`Prepared` gave: history, phases, train call durations,
    seconds, and the train steps of each call (None: one each, as the towers run them)."""

    history: pd.DataFrame
    phases: list[dict]
    durations: list[float]
    seconds: float
    call_steps: list[int] | None = None


def finish_fit(
    prepared: Prepared,
    trained: Trained,
    images: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    generator: dict,
    settings: TrainSettings,
    *,
    positive_index: int = 1,
    backbone: dict | None = None,
    since: tuple[float, float] | None = None,
    phone_views: PhoneViews | None = None,
) -> FitResult:
    """Test the trained model and gather its metrics (see :func:`fit_and_evaluate`)."""
    model, history_frame = prepared.model, trained.history
    scale, mean, std = prepared.normalization
    fused_dense.detach(model)
    model.compile(  # the saved model must load with Keras alone
        optimizer=fast_optimizers.portable(model.optimizer),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    test = prepared.test
    metrics = _test_metrics(model, images, y, test, labels, positive_index, settings.batch_size)
    metrics.update(
        n_params=int(model.count_params()),
        n_train=len(prepared.train),
        n_val=len(prepared.val),
        n_test=len(test),
        train_seconds=round(trained.seconds, 3),
        epochs_run=len(history_frame),
        input_scale=scale,
        input_mean=mean.tolist(),
        input_std=std.tolist(),
        **step_timer.job_figures(
            trained.durations,
            len(prepared.train),
            len(history_frame),
            settings.batch_size,
            since,
            trained.call_steps,
        ),
        batch_size=settings.batch_size,
        phases=trained.phases,
    )
    if phone_views is not None and generator.get("phone_views"):
        metrics.update(phone_views=int(phone_views.arrays.shape[1]))
    if backbone is not None:
        metrics.update(backbone=backbone["name"], ignored_generator_keys=prepared.ignored)
    return FitResult(model, history_frame, metrics)


def fit_and_evaluate(
    images: np.ndarray,
    y: np.ndarray,
    roles: np.ndarray,
    labels: list[str],
    layers: list[dict],
    generator: dict,
    settings: TrainSettings,
    seed: int,
    *,
    positive_index: int = 1,
    evaluate_role: str = "test",
    backbone: dict | None = None,
    arch: str = "?",
    since: tuple[float, float] | None = None,
    phone_views: PhoneViews | None = None,
) -> FitResult:
    """Train on rows whose role is ``train`` (``val`` for monitoring), test on ``evaluate_role``.

    ``images`` is the (N, S, S, 3) uint8 array (a memory map is fine), ``y`` the class
    indices, ``roles`` one role per row (a fold column of splits.csv). ``backbone`` is the
    architecture's ``backbone`` section (``layers`` is then its head), ``arch`` its name
    for error messages, ``since`` where this training's share of the process began (see
    step_timer.job_figures), ``phone_views`` the views of a generator with a ``phone_views``
    section (:class:`mobileclf.train.phone_views.PhoneViews`, aligned with the rows). The
    options after ``seed`` are keyword-only: a call names them.
    """
    prepared = prepare_fit(
        images,
        y,
        roles,
        labels,
        layers,
        generator,
        settings,
        seed,
        evaluate_role=evaluate_role,
        backbone=backbone,
        arch=arch,
        phone_views=phone_views,
    )
    timer = step_timer.step_timer()
    started = time.perf_counter()
    history_frame, phases = fit_phases(
        prepared.model,
        prepared.train_data,
        prepared.val_data,
        settings,
        make_optimizer,
        backbone=backbone,
        arch=arch,
        extra_callbacks=(timer,),
    )
    seconds = time.perf_counter() - started
    trained = Trained(history_frame, phases, timer.durations, seconds, timer.call_steps)
    return finish_fit(
        prepared,
        trained,
        images,
        y,
        labels,
        generator,
        settings,
        positive_index=positive_index,
        backbone=backbone,
        since=since,
        phone_views=phone_views,
    )
