"""One cross-validation training as a job writes it: a fold's metrics.json and history.csv.

Shared by the two entry points so they compute and write the same thing:
``train_cv.py`` trains one fold per process (sizes a cluster should spread out), and
``train_cv_folds.py`` trains every fold of an arch × generator × size in one process
(small sizes: TensorFlow's start-up, ~7 CPU-s, would otherwise cost more than a fold's
training). Each fold is seeded and built afresh exactly as a one-fold job does it, so
both give the same numbers (tests/test_workflow.py compares them).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mobileclf import atomic
from mobileclf.data.datasets import DataMismatch, ResizedData, check_class_count

log = logging.getLogger("train")


@dataclass(frozen=True)
class Cell:
    """What every fold of one grid cell shares: the config sections and names."""

    arch: str
    generator: str
    arch_spec: dict
    generator_spec: dict
    training: dict
    positive: int
    phone_views: object = field(default=None, compare=False, repr=False)  # PhoneViews or None
    # phone_inputs/{size}.npz's arrays (read once, shared by the folds); None: not scored
    phone: dict | None = field(default=None, compare=False, repr=False)

    @property
    def mixed_precision(self) -> bool:
        """training.mixed_precision: float16 compute where the job has a GPU."""
        return bool(self.training.get("mixed_precision", False))


@dataclass(frozen=True)
class FoldOutputs:
    """One fold's seed, retry token (mobileclf.faults) and output paths."""

    fold: int
    seed: int
    attempt: int
    metrics: Path
    history: Path


def load_cell(args: argparse.Namespace) -> tuple[ResizedData, Cell]:
    """The inputs and the cell both CV entry points parse from their shared flags."""
    from mobileclf.data.datasets import load, positive_index
    from mobileclf.mobile.phone_inputs import load_phone_inputs
    from mobileclf.train.phone_views import PhoneViews

    data = load(args.images, args.splits, args.labels, args.manifest)
    views = PhoneViews.load(args.phone_views[0], data.splits.path) if args.phone_views else None
    cell = Cell(
        args.arch,
        args.generator,
        args.arch_spec,
        args.generator_spec,
        args.training,
        positive_index(data.labels, args.positive_class),
        views,
        load_phone_inputs(args.phone) if args.phone else None,
    )
    return data, cell


def _roles(data: ResizedData, fold: FoldOutputs) -> np.ndarray:
    column = f"fold{fold.fold}"
    if column not in data.splits.columns:
        raise DataMismatch(f"splits.csv has no column {column}; rerun the split rule")
    return data.splits[column].to_numpy()


def _identity(data: ResizedData, cell: Cell, fold: FoldOutputs) -> dict:
    return dict(
        arch=cell.arch,
        generator=cell.generator,
        size=int(data.images.shape[1]),
        fold=fold.fold,
        seed=fold.seed,
    )


def train_fold(data: ResizedData, cell: Cell, fold: FoldOutputs, device: str, since=None) -> str:
    """Train and evaluate ``fold`` of ``cell``; write its metrics.json and history.csv.

    Returns the status written ("ok" or "failed"). Running out of resources is recorded
    (status failed, attempt + 1), not raised: the rest of the grid still runs and is
    tabulated, and the next run retries exactly this fold (see mobileclf.faults).
    ``since`` is the (wall, CPU) clock at which this fold's share of the process started
    (None: the process start), for the per-fold time figures in metrics.json.
    """
    from mobileclf.faults import failed_metrics, record_attempt, resource_errors
    from mobileclf.tf_runtime import set_precision
    from mobileclf.train.finetune import effective_training
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    roles = _roles(data, fold)
    identity = _identity(data, cell, fold)
    # per fold: keras.backend.clear_session (train_folds) resets the global dtype policy
    set_precision(cell.mixed_precision, device)
    try:
        result = fit_and_evaluate(
            data.images,
            data.y,
            roles,
            data.labels,
            cell.arch_spec["layers"],
            cell.generator_spec,
            TrainSettings.from_config(effective_training(cell.arch_spec, cell.training)),
            fold.seed,
            positive_index=cell.positive,
            backbone=cell.arch_spec.get("backbone"),
            arch=cell.arch,
            since=since,
            phone_views=cell.phone_views,
        )
    except resource_errors() as error:
        log.error("fold %d failed for lack of resources: %s", fold.fold, error)
        atomic.write_with(fold.history, lambda p: p.write_text("epoch\n"))
        failed = failed_metrics(identity, error, fold.attempt)
        record_attempt(fold.metrics, failed["attempt"])
        atomic.write_json(fold.metrics, failed)
        return "failed"
    return _write_fold(data, cell, fold, device, identity, result, roles)


def _write_fold(data, cell: Cell, fold: FoldOutputs, device: str, identity, result, roles) -> str:
    """Write one trained fold's metrics.json and history.csv (status ok)."""
    check_class_count(int(result.model.output_shape[-1]), data.labels, "the trained model")
    metrics = dict(
        **identity,
        status="ok",
        attempt=fold.attempt,
        device=device,
        dtype_policy=result.model.dtype_policy.name,
        **result.metrics,
        **_phone_metrics(result.model, data, cell, roles),
    )
    log.info("fold %d accuracy %.4f", fold.fold, metrics["accuracy"])
    atomic.write_with(fold.history, lambda p: result.history.to_csv(p, index=False))
    atomic.write_json(fold.metrics, metrics)
    return "ok"


def _phone_metrics(model, data: ResizedData, cell: Cell, roles) -> dict:
    """The fold's test images on the phone's gallery and camera paths, fed to the model as
    the mobile stage's keras path feeds it (raw 0..255 float32, batches of 32), so a model
    scores the same here as in the mobile stage on the same images."""
    if cell.phone is None:
        return {}
    from mobileclf.mobile.phone_inputs import keras_probabilities, phone_metrics

    test = np.flatnonzero(roles == "test")
    started = time.perf_counter()
    metrics = phone_metrics(
        lambda images: keras_probabilities(model, images),
        cell.phone,
        test,
        data.y,
        data.splits.path.to_numpy(),
    )
    # what scoring the phone paths adds to the fold (the emulation is the phone_inputs job)
    return {**metrics, "phone_seconds": round(time.perf_counter() - started, 3)}


def train_folds(data: ResizedData, cell: Cell, folds: list[FoldOutputs], device: str) -> None:
    """Every fold of ``cell`` in this process: side by side as towers of one graph
    (mobileclf.train.towers: same numbers, one training loop) where they reproduce the
    sequential training, else one after the other.

    Sequentially, before each fold the Keras session is cleared (the previous model's
    memory is freed) and the fold's seed set, as a fresh one-fold process would; the first
    fold's figures include the process start-up, later folds' figures start with the fold.
    """
    import keras

    from mobileclf.faults import resource_errors
    from mobileclf.train.towers import sequential_reason

    reason = sequential_reason(
        cell.arch_spec, cell.generator_spec, device, int(data.images.shape[1])
    )
    if len(folds) < 2:
        reason = reason or "a single fold"
    if reason is None:
        try:
            _train_towers(data, cell, folds, device)
            return
        except resource_errors() as error:
            reason = f"the towers ran out of resources ({error})"
    log.info("folds one after another: %s", reason)
    for index, fold in enumerate(folds):
        since = None if index == 0 else (time.time(), sum(os.times()[:2]))
        keras.backend.clear_session()
        keras.utils.set_random_seed(fold.seed)
        train_fold(data, cell, fold, device, since)


def _train_towers(data: ResizedData, cell: Cell, folds: list[FoldOutputs], device: str) -> None:
    """All folds as towers (:func:`mobileclf.train.towers.fit_towers`), each fold's model
    and data built after its own seed as a one-fold job builds them; then tested and
    written one by one. Fold 0's time figures include the process start-up, the others'
    start with the towers (all folds share the same training span)."""
    import keras

    from mobileclf.tf_runtime import set_precision
    from mobileclf.train import step_timer
    from mobileclf.train.finetune import effective_training
    from mobileclf.train.fit import TrainSettings, finish_fit, prepare_fit
    from mobileclf.train.towers import fit_towers

    keras.backend.clear_session()
    set_precision(cell.mixed_precision, device)
    settings = TrainSettings.from_config(effective_training(cell.arch_spec, cell.training))
    since = (time.time(), sum(os.times()[:2]))
    prepared, timers, roles = [], [], []
    for fold in folds:
        roles.append(_roles(data, fold))
        keras.utils.set_random_seed(fold.seed)
        prepared.append(
            prepare_fit(
                data.images,
                data.y,
                roles[-1],
                data.labels,
                cell.arch_spec["layers"],
                cell.generator_spec,
                settings,
                fold.seed,
                arch=cell.arch,
            )
        )
        timers.append(step_timer.step_timer())
    log.info("%d folds as towers of one graph", len(folds))
    trained = fit_towers(prepared, settings, timers)
    for index, fold in enumerate(folds):
        result = finish_fit(
            prepared[index],
            trained[index],
            data.images,
            data.y,
            data.labels,
            cell.generator_spec,
            settings,
            positive_index=cell.positive,
            since=None if index == 0 else since,
        )
        result.metrics["towers"] = len(folds)
        _write_fold(data, cell, fold, device, _identity(data, cell, fold), result, roles[index])


def cell_arguments(arguments: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the flags both CV entry points take (train_cv_folds.py adds its per-fold lists).

    The entry point makes ``arguments`` (mobileclf.cli.parser): the library never imports
    its command line. JSON sections are parsed with ``json.loads``, as cli.json_arg does.
    """
    for name in ("images", "splits", "labels", "arch", "generator"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument(
        "--arch-spec", type=json.loads, required=True, help="architecture (JSON)"
    )
    arguments.add_argument(
        "--generator-spec", type=json.loads, required=True, help="generator (JSON)"
    )
    arguments.add_argument(
        "--training", type=json.loads, required=True, help="training section (JSON)"
    )
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--threads", type=int, default=1)
    arguments.add_argument("--manifest", help="manifest.csv: check that splits.csv is in its order")
    arguments.add_argument(
        "--phone-views", nargs="*", default=[], help="phone views (.npy) of a phone_views generator"
    )
    arguments.add_argument(
        "--phone", help="phone_inputs/{size}.npz: also score the gallery and camera paths"
    )
    return arguments
