"""Train a block of reduction cells on every CV fold, computing what fit_and_evaluate computes.

Per fold, all cells of the block are trained *together*: each cell's model is built
exactly as :func:`mobileclf.training.fit_and_evaluate` builds it (same seed reset, so
the same initial weights and dropout seeds), the models are wrapped as the outputs of
one Keras model, and that model is fitted on the fold's input pipeline with one loss per
output. The total loss is the plain sum, so each model's gradient is exactly its own
loss' gradient and SGD/Adam update every variable on its own: the trained weights are
bit-identical to separate fit_and_evaluate runs (tests/test_reduction.py checks this).
What is shared is the work that does not depend on the model: one tf.data pipeline,
one augmentation pass per batch and one Python training loop per fold instead of one
per cell (2-3x less CPU with an augmenting generator).

Two things fit_and_evaluate does are left out because they cannot change the weights:
the per-epoch validation pass and the history. With early stopping (which reads the
validation loss) each cell is trained by fit_and_evaluate itself.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from mobileclf.architectures import build_model, with_reduction
from mobileclf.augmentation import augment_fn, input_normalization
from mobileclf.metrics import classification_metrics
from mobileclf.reduction_grid import Cell
from mobileclf.training import TrainSettings, _dataset, fit_and_evaluate, make_optimizer

log = logging.getLogger(__name__)


def tflite_float32_bytes(model) -> int:
    """Size of the model as a float32 TFLite flatbuffer (no quantization, no metadata)."""
    import tensorflow as tf

    return len(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def _packed_fold(
    images: np.ndarray,
    y: np.ndarray,
    roles: np.ndarray,
    labels: list[str],
    cell_layers: list[tuple[Cell, list[dict]]],
    generator: dict,
    settings: TrainSettings,
    seed: int,
) -> tuple[list, list[dict], float]:
    """Train all cells on one fold at once; return the models, test metrics, seconds."""
    import keras

    train = np.flatnonzero(roles == "train")
    test = np.flatnonzero(roles == "test")
    train_x = np.asarray(images[train])
    scale, mean, std = input_normalization(generator, train_x)
    models = []
    for (filters, neurons), layers in cell_layers:
        keras.utils.set_random_seed(seed)  # as a train_cv job: fresh seed, then build
        models.append(
            build_model(
                layers,
                images.shape[1],
                len(labels),
                scale,
                mean,
                std,
                name=f"f{filters}_n{neurons}",
            )
        )
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(images.shape[1:], name="image")
    packed = keras.Model(inputs, [model(inputs) for model in models], name="block")
    packed.compile(
        optimizer=make_optimizer(settings), loss=["sparse_categorical_crossentropy"] * len(models)
    )
    count = len(models)
    train_data = _dataset(
        train_x, y[train], settings.batch_size, seed, augment_fn(generator, seed), shuffle=True
    ).map(lambda x, target: (x, (target,) * count))
    started = time.perf_counter()
    packed.fit(train_data, epochs=settings.epochs, verbose=0)
    seconds = time.perf_counter() - started
    metrics: list[dict] = [{} for _ in models]
    if len(test):
        outputs = packed.predict(
            np.asarray(images[test], dtype=np.float32),
            batch_size=max(settings.batch_size, 32),
            verbose=0,
        )
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        metrics = [
            classification_metrics(y[test], probabilities, labels) for probabilities in outputs
        ]
    return models, metrics, seconds


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
) -> list[dict]:
    """One row per cell × fold: accuracy, loss, n_params, float32 TFLite bytes, seconds.

    Fold k uses seed ``seed + k``, as the CV grid's train_cv jobs. The TFLite size is
    measured once per cell, on fold 0's trained model (it depends on the layer shapes,
    not on which fold's trained weights are stored).
    """
    import keras

    folds = sorted(int(column[4:]) for column in splits.columns if column.startswith("fold"))
    cell_layers = [(cell, with_reduction(layers, *cell)) for cell in cells]
    rows: list[dict] = []
    tflite_bytes: dict[Cell, int] = {}
    for fold in folds:
        roles = splits[f"fold{fold}"].to_numpy()
        fold_seed = seed + fold
        if settings.early_stopping_patience:
            results = []
            for _cell, cell_spec in cell_layers:
                keras.utils.set_random_seed(fold_seed)
                result = fit_and_evaluate(
                    images, y, roles, labels, cell_spec, generator, settings, fold_seed
                )
                results.append((result.model, result.metrics, result.metrics["train_seconds"]))
        else:
            models, metrics, seconds = _packed_fold(
                images, y, roles, labels, cell_layers, generator, settings, fold_seed
            )
            results = [
                (model, metric, seconds / len(models))
                for model, metric in zip(models, metrics, strict=True)
            ]
        for ((filters, neurons), _spec), (model, metric, seconds) in zip(
            cell_layers, results, strict=True
        ):
            if (filters, neurons) not in tflite_bytes:
                # under build_model's name: names are stored in the flatbuffer too
                named = keras.Model(model.inputs, model.outputs, name="classifier")
                tflite_bytes[(filters, neurons)] = tflite_float32_bytes(named)
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
        keras.backend.clear_session()
    return rows


def selected_model_bytes(
    images: np.ndarray, splits, labels: list[str], layers: list[dict], generator: dict
) -> tuple[int, int]:
    """(n_params, float32 TFLite bytes) of the selected model as fit_and_evaluate builds it.

    Built on fold 0's normalisation statistics and not trained. The parameter count
    depends on the shapes only; the byte count almost: the converter stores a constant
    whose entries are all equal (a fresh model's zero biases) in less space. So the
    weights are set to random values first, which costs what trained weights cost.
    """
    roles = splits["fold0"].to_numpy()
    train_x = np.asarray(images[np.flatnonzero(roles == "train")])
    scale, mean, std = input_normalization(generator, train_x)
    model = build_model(layers, images.shape[1], len(labels), scale, mean, std)
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(rng.normal(0.0, 0.05, tuple(variable.shape)).astype("float32"))
    return int(model.count_params()), tflite_float32_bytes(model)
