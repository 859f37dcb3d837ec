"""Train a block of reduction cells on every CV fold, computing what fit_and_evaluate computes.

Per fold, all cells of the block are trained *together*: each cell's model is built
exactly as :func:`mobileclf.train.fit.fit_and_evaluate` builds it (same seed reset, so
the same initial weights and dropout seeds), the models are wrapped as the outputs of
one Keras model, and that model is fitted on the fold's input pipeline with one loss per
output. The total loss is the plain sum, so each model's gradient is exactly its own
loss' gradient and SGD/Adam update every variable on its own: the trained weights are
bit-identical to separate fit_and_evaluate runs (tests/test_reduction.py checks this).
What is shared is the work that does not depend on the model: one tf.data pipeline,
one augmentation pass per batch, one Python training loop per fold instead of one per
cell (2-3x less CPU with an augmenting generator), and one traced graph for all folds
(see :class:`BlockTrainer`).

Two things fit_and_evaluate does are left out because they cannot change the weights:
the per-epoch validation pass and the history. With early stopping (which reads the
validation loss) each cell is trained by fit_and_evaluate itself.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from mobileclf.metrics import classification_metrics
from mobileclf.reduce.grid import Cell
from mobileclf.reduce.size import tflite_float32_bytes
from mobileclf.train.architectures import build_model, input_layers, with_reduction
from mobileclf.train.augmentation import input_normalization
from mobileclf.train.fit import (
    TrainSettings,
    _training_data,
    fit_and_evaluate,
    make_optimizer,
)

log = logging.getLogger(__name__)


class BlockTrainer:
    """Trains one block's cells fold after fold with a single traced TensorFlow graph.

    Tracing the packed model's training step costs seconds per fold (19 cells: ~7 s,
    about as long as 15 epochs on 300 images), so the graph of the first fold is kept:
    each later fold builds its cells afresh under its own seed, as a train_cv job
    would, and copies their initial weights and dropout-seed states into the traced
    model, and the optimizer state goes back to its initial values. The fold's input
    normalisation (featurewise statistics differ per fold) runs in the input pipeline,
    with the very layers build_model puts in the model, so the graph holds no
    fold-specific constant. The arithmetic is unchanged, op for op.
    """

    def __init__(self, cell_layers: list[tuple[Cell, list[dict]]], size: int, labels: list[str]):
        self.cell_layers = cell_layers
        self.size = size
        self.labels = labels
        self.packed = None
        self.cells: list = []
        self.optimizer_start: list[np.ndarray] = []
        self.normalization: tuple = (1.0, None, None)

    def _fresh_cells(self, seed: int) -> list:
        """The cells without input layers, initialised exactly as build_model does."""
        import keras

        fresh = []
        for (filters, neurons), layers in self.cell_layers:
            keras.utils.set_random_seed(seed)  # as a train_cv job: fresh seed, then build
            fresh.append(
                build_model(layers, self.size, len(self.labels), name=f"f{filters}_n{neurons}")
            )
        return fresh

    def _start_fold(self, seed: int, settings: TrainSettings) -> None:
        import keras

        fresh = self._fresh_cells(seed)
        if self.packed is None:
            inputs = keras.Input((self.size, self.size, 3), name="image")
            self.packed = keras.Model(inputs, [cell(inputs) for cell in fresh], name="block")
            self.packed.compile(
                optimizer=make_optimizer(settings),
                loss=["sparse_categorical_crossentropy"] * len(fresh),
            )
            self.packed.optimizer.build(self.packed.trainable_variables)
            self.optimizer_start = [v.numpy() for v in self.packed.optimizer.variables]
            self.cells = fresh
            return
        for cell, new in zip(self.cells, fresh, strict=True):
            for variable, value in zip(cell.variables, new.variables, strict=True):
                variable.assign(value)
        for variable, value in zip(
            self.packed.optimizer.variables, self.optimizer_start, strict=True
        ):
            variable.assign(value)

    def train_fold(
        self,
        images: np.ndarray,
        y: np.ndarray,
        roles: np.ndarray,
        generator: dict,
        settings: TrainSettings,
        seed: int,
        phone_views=None,
    ) -> tuple[list[dict], float]:
        """Train every cell on one fold; return their test metrics and the training seconds.

        The trained cells (``self.cells``) lack only the weightless input layers, so their
        parameter counts are the models'; :meth:`models` adds those layers."""
        import keras
        import tensorflow as tf

        train = np.flatnonzero(roles == "train")
        test = np.flatnonzero(roles == "test")
        train_x = np.asarray(images[train])
        self.normalization = input_normalization(generator, train_x)
        normalise = input_layers(*self.normalization)
        for layer in normalise:  # eagerly: its constants then serve tf.data and predict
            layer.build((None, self.size, self.size, 3))

        def prepare(batch):
            for layer in normalise:
                batch = layer(batch)
            return batch

        self._start_fold(seed, settings)
        keras.utils.set_random_seed(seed)  # the shuffle's seed pair, as in fit_and_evaluate
        count = len(self.cells)
        # plain images, or the generator's phone views of the train rows (phone_views)
        train_data = _training_data(train_x, y, train, settings, seed, generator, phone_views).map(
            lambda x, target: (prepare(x), (target,) * count)
        )
        started = time.perf_counter()
        self.packed.fit(train_data, epochs=settings.epochs, verbose=0)
        seconds = time.perf_counter() - started
        metrics: list[dict] = [{} for _ in self.cells]
        if len(test):
            test_x = prepare(tf.constant(np.asarray(images[test], dtype=np.float32)))
            outputs = self.packed.predict(
                test_x, batch_size=max(settings.batch_size, 32), verbose=0
            )
            outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
            metrics = [
                classification_metrics(y[test], probabilities, self.labels)
                for probabilities in outputs
            ]
        return metrics, seconds

    def models(self) -> list:
        """The last trained fold's cells as fit_and_evaluate builds them (input layers in)."""
        models = []
        for (_cell, layers), cell in zip(self.cell_layers, self.cells, strict=True):
            model = build_model(layers, self.size, len(self.labels), *self.normalization)
            model.set_weights(cell.get_weights())
            models.append(model)
        return models


def _fit_cell(images, y, roles, labels, spec, generator, settings, seed, phone_views) -> tuple:
    """(model, metrics, seconds) of one cell trained alone (early stopping: each cell
    stops at its own epoch, which one block graph cannot do)."""
    import keras

    keras.utils.set_random_seed(seed)
    result = fit_and_evaluate(
        images, y, roles, labels, spec, generator, settings, seed, phone_views=phone_views
    )
    return result.model, result.metrics, result.metrics["train_seconds"]


def train_block(
    images: np.ndarray,
    y: np.ndarray,
    splits,
    labels: list[str],
    layers: list[dict],
    cells: list[Cell],
    generator: dict,
    settings: TrainSettings,
    seed: int,
    phone_views=None,
) -> list[dict]:
    """One row per cell × fold: accuracy, loss, n_params, float32 TFLite bytes, seconds.

    Fold k uses seed ``seed + k``, as the CV grid's train_cv jobs. The TFLite size is
    measured once per cell, on fold 0's trained model (it depends on the layer shapes,
    not on which fold's trained weights are stored).
    """
    folds = sorted(int(column[4:]) for column in splits.columns if column.startswith("fold"))
    cell_layers = [(cell, with_reduction(layers, *cell)) for cell in cells]
    rows: list[dict] = []
    tflite_bytes: dict[Cell, int] = {}
    trainer = BlockTrainer(cell_layers, images.shape[1], labels)
    for fold in folds:
        roles = splits[f"fold{fold}"].to_numpy()
        fold_seed = seed + fold
        if settings.early_stopping_patience:
            results = [
                _fit_cell(
                    images, y, roles, labels, spec, generator, settings, fold_seed, phone_views
                )
                for _cell, spec in cell_layers
            ]
        else:
            metrics, seconds = trainer.train_fold(
                images, y, roles, generator, settings, fold_seed, phone_views
            )
            # full models only where a TFLite size is still to be measured (fold 0)
            models = trainer.models() if fold == folds[0] else trainer.cells
            results = [
                (model, metric, seconds / len(models))
                for model, metric in zip(models, metrics, strict=True)
            ]
        for ((filters, neurons), _spec), (model, metric, seconds) in zip(
            cell_layers, results, strict=True
        ):
            if (filters, neurons) not in tflite_bytes:
                tflite_bytes[(filters, neurons)] = tflite_float32_bytes(model)
            rows.append(
                dict(
                    filters=filters,
                    neurons=neurons,
                    fold=fold,
                    seed=fold_seed,
                    accuracy=metric.get("accuracy"),
                    loss=metric.get("loss"),
                    n_params=int(model.count_params()),
                    tflite_bytes=tflite_bytes[(filters, neurons)],
                    train_seconds=round(seconds, 3),
                    epochs=settings.epochs,
                )
            )
            log.info(
                "fold %d f=%d n=%d accuracy %.4f params %d",
                fold,
                filters,
                neurons,
                rows[-1]["accuracy"] if rows[-1]["accuracy"] is not None else float("nan"),
                rows[-1]["n_params"],
            )
    return rows


def reduction_block(args) -> None:
    """The reduction_block stage: one CSV row per cell × fold of the block ``args.cells``.

    ``args`` are scripts/reduction_block.py's flags.
    """
    import pandas as pd

    from mobileclf import atomic, tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    from mobileclf.data.datasets import load
    from mobileclf.reduce.grid import parse_block_key

    cells = parse_block_key(args.cells)
    data = load(args.images, args.splits, args.labels)
    views = None
    if args.phone_views:  # a phone_views generator: its cells train on the same views
        from mobileclf.train.phone_views import PhoneViews

        views = PhoneViews.load(args.phone_views[0], data.splits.path)
    logging.getLogger("reduction").info("block of %d cells: %s", len(cells), cells)
    rows = train_block(
        data.images,
        data.y,
        data.splits,
        data.labels,
        args.arch_spec["layers"],
        cells,
        args.generator_spec,
        TrainSettings.from_config(args.training),
        args.seed,
        phone_views=views,
    )
    atomic.write_with(args.out, lambda p: pd.DataFrame(rows).to_csv(p, index=False))
