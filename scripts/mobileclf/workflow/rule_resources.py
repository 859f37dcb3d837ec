"""Threads, ``mem_mb``, ``runtime`` (minutes) and ``gpu`` of every rule, from the
default-filled config, a job's wildcards and Snakemake's ``attempt`` (1, 2, ... on
retries): what a cluster is asked for, and what lets a workstation run as many jobs side
by side as --cores and --resources allow. The estimates themselves are in
:mod:`mobileclf.workflow.resources`; this module picks their arguments per rule.

Before ingest has run the number of images and classes are estimates; afterwards they
are read from results/{dataset}/manifest.csv and labels.txt (paths relative to the
working directory, as in the rules). Named after the rule or stage that uses them.
"""

from __future__ import annotations

import math
from pathlib import Path

from mobileclf.reduce.grid import parse_block_key
from mobileclf.train.towers import sequential_reason
from mobileclf.workflow import resources as res
from mobileclf.workflow.params import fold_attempts, train_attempt
from mobileclf.workflow.targets import archs, folds, sizes


def dataset_images(config: dict, dataset: str) -> int:
    """Accepted images of a dataset: manifest.csv once ingest has run, else an estimate."""
    spec = config["datasets"][dataset]
    fallback = 2 * spec["demo_per_class"] if spec["demo"] else res.DEFAULT_IMAGES
    return res.dataset_images(f"results/{dataset}/manifest.csv", fallback)


def n_classes(dataset: str) -> int:
    """Classes from labels.txt once ingest has run; 2 (the fewest possible) before."""
    labels = Path(f"results/{dataset}/labels.txt")
    if labels.exists():
        return max(2, len(labels.read_text().split()))
    return 2


# --- jobs that read tables or images ----------------------------------------------------

# phone_inputs and phone_views emulate images on this many threads
# (mobileclf.parallel.map_threads: 1.8x on 2; Snakemake caps them at --cores)
EMULATION_THREADS = 2


def light_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Jobs that read tables or one image at a time (demo, ingest, split, aggregate)."""
    return res.light_mem_mb(attempt=attempt)


def light_runtime(config: dict, wildcards, attempt: int) -> int:
    """Decoding every image once: ~10 s plus ~20 ms per image, in whole minutes."""
    return res.light_runtime(dataset_images(config, wildcards.dataset), attempt)


def table_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Jobs that read a few small tables (selection, model card, report, report index)."""
    return res.table_mem_mb(attempt)


def resize_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """The resize job holds the whole size x size uint8 array of the dataset."""
    n_images = dataset_images(config, wildcards.dataset)
    return res.light_mem_mb(n_images, int(wildcards.size), attempt)


def backbone_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """fetch_imagenet: building a keras.applications backbone (ResNet101: 43 M
    parameters) takes ~2 GB."""
    return 2500 * attempt


# --- cross-validation: train_cv, train_cv_folds -----------------------------------------


def train_gpu(config: dict, wildcards) -> int:
    """GPUs per training job: 1 with `training.gpu: true` (SLURM: --gpus=1; locally
    `--resources gpu=N` runs at most N at once), else 0 (the job hides any GPU)."""
    return 1 if config["training"]["gpu"] else 0


def train_partition(config: dict) -> dict[str, str]:
    """Extra resources of every training rule (train_cv, train_cv_folds, train_final):
    with `training.gpu: true` the GPU partition (`cluster.gpu_partition`), so the one
    switch that asks for a GPU also sends the job where GPUs are; otherwise nothing, and
    the profile's default partition applies (a rule value would override it). Unpacked
    into the rules' resources at parse time (config is fixed then), not per job."""
    if config["training"]["gpu"]:
        return {"slurm_partition": config["cluster"]["gpu_partition"]}
    return {}


def train_threads(config: dict, wildcards) -> int:
    """1 thread below 100 px, 2 below 200 px, else 4 (resources.train_threads); a
    workstation caps it at --cores."""
    return res.train_threads(int(wildcards.size))


def _train_mem(
    config: dict, dataset: str, size: int, cost: tuple, retries: int, trainings: int = 1
) -> int:
    training = config["training"]
    params, activations, _ = cost
    return res.train_mem_mb(
        size,
        dataset_images(config, dataset),
        training["batch_size"],
        params,
        activations,
        training["optimizer"],
        retries,
        trainings,
    )


def _train_time(config: dict, wildcards, cost: tuple, threads: int, attempt: int) -> int:
    return res.train_runtime(
        dataset_images(config, wildcards.dataset),
        config["training"]["epochs"],
        cost[2],
        threads,
        bool(train_gpu(config, wildcards)),
        attempt,
    )


def _train_cost(config: dict, wildcards) -> tuple[int, int, int]:
    """(parameters, activations, multiply-adds) per image of the job's architecture."""
    arch = config["architectures"][wildcards.arch]
    return res.arch_cost(arch, int(wildcards.size), n_classes(wildcards.dataset))


def train_cv_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Peak memory of one training from image size, dataset size, batch size and the
    architecture's parameter and activation counts. A retry (Snakemake's attempt) asks for
    attempt x as much, and so does the next run after out-of-memory failures recorded in
    metrics.json (mobileclf.faults: each one adds 1 to its attempt number)."""
    retries = attempt + train_attempt(config, wildcards)
    cost = _train_cost(config, wildcards)
    return _train_mem(config, wildcards.dataset, int(wildcards.size), cost, retries)


def train_cv_runtime(config: dict, wildcards, attempt: int) -> int:
    """Wall-time minutes of one training job from its multiply-adds, images and epochs
    (Muneeb et al. (2022): 10-600 min per image size of its GPU grid); attempt x as long on
    retries."""
    cost = _train_cost(config, wildcards)
    return _train_time(config, wildcards, cost, train_threads(config, wildcards), attempt)


def train_cv_folds_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Folds trained as towers (mobileclf.train.towers) are all in memory at once; folds
    trained one after the other need one fold's memory (models are freed in between).
    Sized for the fold with the most out-of-memory failures."""
    retries = attempt + max(fold_attempts(config, wildcards))
    cost = _train_cost(config, wildcards)
    size = int(wildcards.size)
    reason = sequential_reason(
        config["architectures"][wildcards.arch],
        config["generators"][wildcards.generator],
        "GPU" if train_gpu(config, wildcards) else "CPU",
        size,
    )
    trainings = len(folds(config)) if reason is None else 1
    return _train_mem(config, wildcards.dataset, size, cost, retries, trainings)


def train_cv_folds_runtime(config: dict, wildcards, attempt: int) -> int:
    """The folds one after the other, in one process (one start-up)."""
    cost = _train_cost(config, wildcards)
    return res.train_runtime(
        dataset_images(config, wildcards.dataset),
        config["training"]["epochs"],
        cost[2],
        train_threads(config, wildcards),
        bool(train_gpu(config, wildcards)),
        attempt,
        trainings=len(folds(config)),
    )


# --- train_final: the selection is unknown at DAG time ----------------------------------


def _final_cost(config: dict, dataset: str) -> tuple[int, int, int]:
    """(parameters, activations, multiply-adds) of the costliest architecture at the
    largest size: the selection that picks the final model is unknown at DAG time."""
    classes = n_classes(dataset)
    costs = [
        res.arch_cost(config["architectures"][arch], max(sizes(config)), classes)
        for arch in archs(config)
    ]
    return tuple(max(cost[i] for cost in costs) for i in range(3))


def train_final_threads(config: dict, wildcards) -> int:
    """Like train_threads, for the largest size the selection may pick."""
    return res.train_threads(max(sizes(config)))


def train_final_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """As a CV job of the costliest architecture at the largest size (train_cv_mem_mb)."""
    cost = _final_cost(config, wildcards.dataset)
    return _train_mem(config, wildcards.dataset, max(sizes(config)), cost, attempt)


def train_final_runtime(config: dict, wildcards, attempt: int) -> int:
    """As a CV job of the costliest architecture at the largest size (train_cv_runtime),
    on the images outside the holdout (the final model's training and validation rows)."""
    cost = _final_cost(config, wildcards.dataset)
    images = dataset_images(config, wildcards.dataset)
    return res.train_runtime(
        math.ceil(images * (1 - config["split"]["holdout_fraction"])),
        config["training"]["epochs"],
        cost[2],
        train_final_threads(config, wildcards),
        bool(train_gpu(config, wildcards)),
        attempt,
    )


# --- export, reduction summary, mobile prediction and latency ----------------------------


def export_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Conversion/verification load one model and the images of one size (the largest:
    the selected size is unknown when the DAG is built)."""
    n_images = dataset_images(config, wildcards.dataset)
    return res.model_mem_mb(n_images, max(sizes(config)), attempt)


def export_runtime(config: dict, wildcards, attempt: int) -> int:
    """Minutes: TensorFlow start-up plus one pass of every image through the model(s)."""
    n_images = dataset_images(config, wildcards.dataset)
    return res.model_runtime(n_images, max(sizes(config)), attempt)


def mobile_predict_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """The Keras reference loads TensorFlow (export_mem_mb); a .tflite variant runs in the
    LiteRT interpreter alone (~90 MB measured) with the phone inputs of the holdout."""
    if wildcards.variant == "keras":
        return export_mem_mb(config, wildcards, attempt)
    return res.interpreter_mem_mb(dataset_images(config, wildcards.dataset), attempt)


def mobile_latency_threads(config: dict, cores: int | None) -> int:
    """Reserve as many cores as the largest thread count measured (capped by --cores),
    so no other job competes with the timing."""
    wanted = max(config["mobile"]["latency"]["threads"])
    return min(wanted, cores) if cores else wanted


# --- reduction blocks -------------------------------------------------------------------


def _block_cells(wildcards) -> list[tuple[int, int]]:
    return parse_block_key(wildcards.cells)


def reduction_block_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """Arrays + every cell's model with gradients and optimizer state, with margin."""
    size = int(wildcards.size)
    model_mb = sum((size // 2) ** 2 * f * n * 16 / 1e6 for f, n in _block_cells(wildcards))
    return int(1500 + 0.05 * size * size + model_mb) * attempt


def reduction_block_runtime(config: dict, wildcards, attempt: int) -> int:
    """Minutes for a block: cells x folds small trainings in one process."""
    trainings = len(_block_cells(wildcards)) * len(folds(config))
    return res.reduction_runtime(
        dataset_images(config, wildcards.dataset),
        config["training"]["epochs"],
        trainings,
        attempt,
    )


# --- phone_views --------------------------------------------------------------------------


def _phone_view_count(config: dict, wildcards) -> int:
    return config["generators"][wildcards.generator]["phone_views"]["views"]


def phone_views_mem_mb(config: dict, wildcards, attempt: int) -> int:
    """The job holds K views of every image at the size."""
    n_views = dataset_images(config, wildcards.dataset) * _phone_view_count(config, wildcards)
    return res.light_mem_mb(n_views, int(wildcards.size), attempt)


def phone_views_runtime(config: dict, wildcards, attempt: int) -> int:
    """A camera view costs ~70 ms (a 640x480 frame), about five image decodes."""
    n_views = dataset_images(config, wildcards.dataset) * _phone_view_count(config, wildcards)
    return res.light_runtime(5 * n_views, attempt)
