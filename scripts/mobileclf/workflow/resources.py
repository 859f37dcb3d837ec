"""Resource estimates (memory, wall time, threads) for the jobs Snakemake schedules.

A cluster kills a job that outgrows its memory or wall-time request and queues big
requests longer, so each training job asks for what it needs, estimated from what drives
the cost: image size, batch size, the architecture's parameter count, the number of images
and the epochs. Pure Python without TensorFlow or NumPy: the workflow evaluates these while
it builds the DAG, for every job of the grid.

The constants were calibrated on this project's CPU jobs (a 16-px training job peaks at
~0.5 GB RSS, almost all of it the TensorFlow runtime) and on Muneeb et al. (2022)'s timings (a
300-px job of the CT grid is ~15 min on a GPU); they err on the generous side, and every retry
of a failed job (Snakemake's ``attempt``) asks for proportionally more.
"""

from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path

# TensorFlow + Keras + pandas imported and one small model built (measured: 0.45-0.52 GB).
TF_BASELINE_MB = 900
# A script that reads images or CSVs and plots (PIL, pandas, matplotlib; LiteRT without
# TensorFlow): measured 90-210 MB on the demo and sarscov2-ct-mini (docs/slurm.md).
LIGHT_BASELINE_MB = 300
# A script that reads a few small tables and writes JSON/Markdown/HTML (selection, model
# card, report): measured 70-80 MB.
TABLE_BASELINE_MB = 200
# Images assumed when no manifest.csv exists yet (first dry run of a new dataset): enough
# for the paper's datasets (2,482 CT slices); the estimate is refined once ingest has run.
DEFAULT_IMAGES = 5000
# Parameters assumed for a pretrained backbone (branch ``backbones``): ResNet50 scale, an
# upper bound for the mobile backbones (MobileNetV2 3.5 M, EfficientNetB0 5.3 M).
BACKBONE_PARAMS = 25_000_000
# Sustained training throughput of one CPU thread, FLOP/s: TensorFlow with oneDNN reaches
# 10-40 GFLOP/s per core on big convolutions and matrix products, far less on tiny ones.
FLOPS_PER_THREAD = 5e9
# A GPU's sustained throughput on these small models (input pipeline bound).
FLOPS_GPU = 2e11
# Minutes for process start and TensorFlow import, once per job (10-15 s on an idle core,
# up to 25 s on a loaded node), and for building, compiling and evaluating each model.
STARTUP_MINUTES = 0.4
MINUTES_PER_TRAINING = 0.05
# Seconds per image and epoch besides the model's arithmetic: tf.data, augmentation on the
# CPU and Keras' per-step overhead, which dominate small models (fitted on the demo and
# sarscov2-ct-mini benchmarks, docs/slurm.md).
SECONDS_PER_IMAGE_EPOCH = 0.006
# The same for one cell of a reduction block (a few filters and neurons, no per-model
# set-up worth counting): 1.0-1.2 ms measured on the demo and sarscov2-ct-mini.
SECONDS_PER_CELL_IMAGE_EPOCH = 0.0015
# Seconds per image x pixel for jobs that push every image of a size through a model or a
# resampler once (conversion with int8 calibration, verification of 4 variants, phone
# predictions): ~0.5 s per 100 images at 48 px measured, with a 3x margin.
SECONDS_PER_IMAGE_PIXEL = 2e-6
# Safety factor on the computed wall time (shared nodes, augmentation on the CPU).
RUNTIME_MARGIN = 2.0


def _conv_out(size: int, kernel: int, strides: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / strides)
    return max(0, (size - kernel) // strides + 1)


def layer_shapes(layers: list[dict], size: int, n_classes: int) -> list[tuple[str, int, int, int]]:
    """(kind, parameters, output elements, multiply-adds) per layer, softmax head included.

    Mirrors mobileclf.train.architectures.build_model (Keras defaults: valid padding, pool
    strides = pool size, softmax Dense appended) without building anything.
    """
    height = width = int(size)
    channels = 3
    flat: int | None = None  # set once the tensor is a vector
    rows: list[tuple[str, int, int, int]] = []
    for spec in layers:
        kind = spec["type"]
        if kind == "conv":
            kernel, strides = spec.get("kernel", 3), spec.get("strides", 1)
            padding, filters = spec.get("padding", "valid"), spec["filters"]
            height = _conv_out(height, kernel, strides, padding)
            width = _conv_out(width, kernel, strides, padding)
            params = kernel * kernel * channels * filters + filters
            macs = height * width * kernel * kernel * channels * filters
            channels = filters
            rows.append((kind, params, height * width * channels, macs))
        elif kind == "maxpool":
            pool = spec.get("pool", 2)
            height, width = height // pool, width // pool
            rows.append(
                (kind, 0, height * width * channels, height * width * channels * pool * pool)
            )
        elif kind in ("flatten", "gap"):
            flat = height * width * channels if kind == "flatten" else channels
            rows.append((kind, 0, flat, height * width * channels))
        elif kind == "dense":
            inputs = flat if flat is not None else channels  # Dense on a 4-D tensor: last axis
            spatial = 1 if flat is not None else height * width
            params = inputs * spec["units"] + spec["units"]
            rows.append((kind, params, spatial * spec["units"], spatial * inputs * spec["units"]))
            if flat is not None:
                flat = spec["units"]
            else:
                channels = spec["units"]
        elif kind == "dropout":
            rows.append((kind, 0, rows[-1][2] if rows else height * width * channels, 0))
        else:
            raise ValueError(f"unknown layer type {kind!r} in an architecture's layers")
    inputs = flat if flat is not None else height * width * channels
    rows.append(("softmax", inputs * n_classes + n_classes, n_classes, inputs * n_classes))
    return rows


def _map_problem(spec: dict, height: int, width: int, size: int) -> str:
    """Why a conv or maxpool cannot run on a height x width map (empty: it can)."""
    if spec["type"] == "conv":
        kernel, padding = spec.get("kernel", 3), spec.get("padding", "valid")
        if padding == "valid" and kernel > min(height, width):
            return (
                f"conv kernel {kernel} is larger than the {height}x{width} feature map at image "
                f"size {size}; use a smaller kernel, padding: same, or drop the size"
            )
    elif spec["type"] == "maxpool" and spec.get("pool", 2) > min(height, width):
        return (
            f"maxpool pool {spec.get('pool', 2)} is larger than the {height}x{width} feature "
            f"map at image size {size}; use a smaller pool, fewer pooling layers, or drop the "
            "size"
        )
    return ""


def shape_problems(layers: list[dict], size: int, backbone: bool = False) -> list[tuple[int, str]]:
    """(layer index, problem) for the first layer build_model could not build at ``size``.

    The same walk as :func:`layer_shapes`, checked instead of counted, so that a layer list
    Keras would refuse is found when the config is read, not after ingest, split and resize
    ran: a kernel or pool larger than the feature map (Keras: "Computed output size would
    be zero or negative"), a conv, pool or gap after the tensor became a vector, and no
    flatten or gap before the classifier (Keras: "Argument 'output' must have rank ...").
    With a backbone the feature map's size is the backbone's: only the order is checked.
    """
    height = width = int(size)
    vector_at: int | None = None  # index of the flatten/gap that made the tensor a vector
    for index, spec in enumerate(layers):
        kind = spec["type"]
        if kind in ("conv", "maxpool", "gap") and vector_at is not None:
            made_by = layers[vector_at]["type"]
            return [
                (
                    index,
                    f"{kind} after the {made_by} at layers[{vector_at}]: it needs a feature "
                    f"map but the tensor is already a vector; move it before layers[{vector_at}]",
                )
            ]
        if kind in ("conv", "maxpool") and not backbone:
            problem = _map_problem(spec, height, width, size)
            if problem:
                return [(index, problem)]
            if kind == "conv":
                kernel, strides = spec.get("kernel", 3), spec.get("strides", 1)
                padding = spec.get("padding", "valid")
                height = _conv_out(height, kernel, strides, padding)
                width = _conv_out(width, kernel, strides, padding)
            else:
                height, width = height // spec.get("pool", 2), width // spec.get("pool", 2)
        elif kind in ("flatten", "gap"):
            vector_at = index
    if vector_at is None:
        dense = [i for i, spec in enumerate(layers) if spec["type"] == "dense"]
        index = dense[0] if dense else len(layers) - 1
        where = "the backbone's feature map" if backbone else f"a {height}x{width} feature map"
        return [
            (
                index,
                f"no flatten or gap before the classifier: layers[{index}] "
                f"({layers[index]['type']}) gets {where} at image size {size}; add "
                f"{{type: flatten}} or {{type: gap}} before layers[{index}]",
            )
        ]
    return []


def count_params(layers: list[dict], size: int, n_classes: int) -> int:
    """Trainable parameters of the model build_model makes (normalisation layers excluded)."""
    return sum(row[1] for row in layer_shapes(layers, size, n_classes))


def arch_cost(arch: dict, size: int, n_classes: int) -> tuple[int, int, int]:
    """(parameters, activation elements per image, multiply-adds per image) of an architecture.

    A pretrained backbone (``arch["backbone"]``) is counted as BACKBONE_PARAMS with as many
    multiply-adds per pixel as a MobileNet-class network (~300 per pixel at 224 px).
    """
    rows = layer_shapes(arch.get("layers", []), size, n_classes)
    params = sum(r[1] for r in rows)
    activations = sum(r[2] for r in rows) + size * size * 3
    macs = sum(r[3] for r in rows)
    if arch.get("backbone"):
        params += BACKBONE_PARAMS
        activations += 40 * size * size
        macs += 6000 * size * size
    return params, activations, macs


@lru_cache(maxsize=64)
def _accepted_images(manifest: str, mtime_ns: int) -> int:
    with open(manifest, newline="", encoding="utf-8") as handle:
        return sum(1 for row in csv.DictReader(handle) if row.get("status", "ok") == "ok")


def dataset_images(manifest: str | Path, fallback: int = DEFAULT_IMAGES) -> int:
    """Accepted images listed in manifest.csv; ``fallback`` until ingest has written it."""
    path = Path(manifest)
    try:
        return _accepted_images(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        return fallback


def train_threads(size: int) -> int:
    """Small images: one thread per job and more jobs side by side (TensorFlow start-up and
    small kernels scale poorly); from 100 px the big Dense update profits from 2, from
    200 px from 4 threads. Snakemake caps this at --cores on a workstation."""
    return 1 if size < 100 else 2 if size < 200 else 4


def train_mem_mb(
    size: int,
    n_images: int,
    batch_size: int,
    params: int,
    activations: int,
    optimizer: str,
    attempt: int = 1,
    trainings: int = 1,
) -> int:
    """Peak memory (MB) of one training job, with 50% margin, times the attempt number.

    ``trainings`` models held at once (the folds of an all-folds job trained as towers,
    mobileclf.train.towers) each have their own training rows, weights, slots and batch.

    The uint8 image array is memory-mapped and its training rows copied twice (NumPy, then
    the tf.data tensor); weights, gradients and optimizer slots are float32 (Adam keeps two
    slots, SGD one); activations are kept for the backward pass (x3 for gradients and
    temporaries) for one batch, plus one float32 batch being prepared by tf.data.
    """
    image_bytes = size * size * 3
    data = n_images * image_bytes * 3
    slots = 2 if optimizer == "adam" else 1
    model = params * 4 * (2 + slots)
    batch = batch_size * (activations * 4 * 3 + image_bytes * 4 * 2)
    estimate_mb = TF_BASELINE_MB + 1.5 * max(1, trainings) * (data + model + batch) / 2**20
    return math.ceil(estimate_mb / 100) * 100 * max(1, attempt)


def train_runtime(
    n_images: int,
    epochs: int,
    macs: int,
    threads: int,
    gpu: bool,
    attempt: int = 1,
    trainings: int = 1,
) -> int:
    """Wall time (minutes) of a training job of ``trainings`` models one after the other
    (train_cv_folds: one per fold) in one process, times the attempt number.

    Training one image costs ~3 forward passes (forward, two backward products) of 2 FLOP
    per multiply-add; all images pass every epoch (the training rows are ~3/4 of them,
    the rest are validated or tested, which is cheaper: the overestimate is the margin).
    The start-up is paid once per job, not per model.
    """
    trainings = max(1, trainings)
    flops = 3 * 2 * macs * n_images * epochs * trainings
    rate = FLOPS_GPU if gpu else FLOPS_PER_THREAD * max(1, threads) ** 0.7
    overhead = trainings * (MINUTES_PER_TRAINING + SECONDS_PER_IMAGE_EPOCH * n_images * epochs / 60)
    minutes = STARTUP_MINUTES + overhead + RUNTIME_MARGIN * flops / rate / 60
    return math.ceil(minutes) * max(1, attempt)


def reduction_runtime(n_images: int, epochs: int, trainings: int, attempt: int = 1) -> int:
    """Wall time (minutes) of a reduction block: ``trainings`` (cells x folds) small models
    one after the other after one TensorFlow start-up."""
    minutes = STARTUP_MINUTES + trainings * SECONDS_PER_CELL_IMAGE_EPOCH * n_images * epochs / 60
    return math.ceil(minutes) * max(1, attempt)


def light_mem_mb(n_images: int = 0, size: int = 0, attempt: int = 1) -> int:
    """Memory (MB) of a job that reads images or tables: interpreter + the largest array
    it holds (``n_images`` images of ``size`` px as uint8, twice during the write)."""
    estimate_mb = LIGHT_BASELINE_MB + 2 * n_images * size * size * 3 / 2**20
    return math.ceil(estimate_mb / 100) * 100 * max(1, attempt)


def light_runtime(n_images: int = 0, attempt: int = 1) -> int:
    """Minutes for a job that decodes each image once (~20 ms per image, generous) after
    ~10 s of start-up; SLURM counts whole minutes, so seconds-long jobs ask for 1."""
    return math.ceil((10 + n_images * 0.02) / 60) * max(1, attempt)


def table_mem_mb(attempt: int = 1) -> int:
    """Memory (MB) of a job that reads a few small tables (TABLE_BASELINE_MB)."""
    return TABLE_BASELINE_MB * max(1, attempt)


def interpreter_mem_mb(n_images: int, attempt: int = 1) -> int:
    """Memory (MB) of a LiteRT prediction job: the interpreter without TensorFlow (~90 MB
    measured) and float32 inputs of at most every image at 224 px (mobile inputs are
    the holdout at the model's size), rounded up to 10 MB."""
    estimate_mb = TABLE_BASELINE_MB + 0.15 * n_images * 224 * 224 * 3 * 4 / 2**20
    return math.ceil(estimate_mb / 10) * 10 * max(1, attempt)


def model_mem_mb(n_images: int, size: int, attempt: int = 1) -> int:
    """Memory (MB) of a TensorFlow job that holds one model and the images of one size
    (conversion, verification, Keras predictions): the TensorFlow baseline plus the uint8
    array and one float32 batch-sized copy of it, rounded up to 100 MB."""
    estimate_mb = TF_BASELINE_MB + 2 * n_images * size * size * 3 / 2**20
    return math.ceil(estimate_mb / 100) * 100 * max(1, attempt)


def model_runtime(n_images: int, size: int, attempt: int = 1) -> int:
    """Minutes of a job that passes every image of one size through a model or two once:
    TensorFlow start-up plus SECONDS_PER_IMAGE_PIXEL per image and pixel."""
    seconds = STARTUP_MINUTES * 60 + SECONDS_PER_IMAGE_PIXEL * n_images * size * size
    return math.ceil(seconds / 60) * max(1, attempt)
