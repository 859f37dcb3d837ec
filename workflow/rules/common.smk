# Helpers shared by all rules: config validation, wildcard constraints, input functions.
# Kept free of TensorFlow so that parsing the workflow takes well under a second.
import json
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from mobileclf import resources as res

validate(config, schema="../schemas/config.schema.yaml")

DATASETS = sorted(config["datasets"])
SIZES = sorted(config["resize"]["sizes"])
GENERATORS = sorted(config["generators"])
ARCHS = sorted(config["architectures"])
FOLDS = list(range(config["split"]["folds"]))


def _alternatives(values):
    return "|".join(re.escape(str(v)) for v in values)


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    size=_alternatives(SIZES),
    generator=_alternatives(GENERATORS),
    arch=_alternatives(ARCHS),
    fold=r"\d+",


def as_json(value):
    """Config sections travel to the entry points as one quoted JSON argument."""
    return json.dumps(value, sort_keys=True)


def dataset_root(dataset):
    """Folder the dataset's images are read from (generated for demo datasets)."""
    spec = config["datasets"][dataset]
    if spec.get("demo"):
        return f"results/{dataset}/demo_data"
    return spec["root"]


def get_dataset_root(wildcards):
    return dataset_root(wildcards.dataset)


def get_demo_per_class(wildcards):
    return config["datasets"][wildcards.dataset].get("demo_per_class", 40)


def get_ingest_input(wildcards):
    spec = config["datasets"][wildcards.dataset]
    if spec.get("demo"):
        return f"results/{wildcards.dataset}/demo_data"
    return []


def get_ingest_options(wildcards):
    return as_json(config["datasets"][wildcards.dataset].get("ingest", {}))


def get_resize_options(wildcards):
    ingest = config["datasets"][wildcards.dataset].get("ingest", {})
    return as_json(
        {
            "mode": config["resize"].get("mode", "stretch"),
            "resample": config["resize"].get("resample", "bilinear"),
            "max_pixels": ingest.get("max_pixels", 100_000_000),
            "oversize": ingest.get("oversize", "reject"),
        }
    )


def get_split_options(wildcards):
    return as_json({**config.get("split", {}), "seed": config.get("seed", 42)})


def get_arch_spec(wildcards):
    return as_json(config["architectures"][wildcards.arch])


def get_generator_spec(wildcards):
    return as_json(config["generators"][wildcards.generator])


def get_training_spec(wildcards):
    """The training section without `gpu`: where a job runs must not rerun it."""
    return as_json({k: v for k, v in config["training"].items() if k != "gpu"})


def get_positive_class(wildcards):
    """Disease class for sensitivity/specificity; empty: the second label (sorted)."""
    return config["datasets"][wildcards.dataset].get("positive_class", "")


def get_job_seed(wildcards):
    """One seed per fold: folds differ, and reruns of a job repeat it exactly."""
    return int(config.get("seed", 42)) + int(wildcards.fold)


# Resources: every rule declares threads, mem_mb and runtime (minutes) through these
# helpers, so a cluster gets sensible requests and a workstation runs as many jobs side by
# side as --cores and --resources allow. The estimates are in mobileclf/resources.py.
def _dataset_images(dataset):
    """Accepted images of a dataset: manifest.csv once ingest has run, else an estimate."""
    spec = config["datasets"][dataset]
    fallback = (
        2 * spec.get("demo_per_class", 40) if spec.get("demo") else res.DEFAULT_IMAGES
    )
    return res.dataset_images(f"results/{dataset}/manifest.csv", fallback)


def _n_classes(dataset):
    """Classes from labels.txt once ingest has run; 2 (the fewest possible) before."""
    labels = Path(f"results/{dataset}/labels.txt")
    if labels.exists():
        return max(2, len(labels.read_text().split()))
    return 2


def _train_cost(wildcards):
    """(parameters, activations, multiply-adds) per image of the job's architecture."""
    arch = config["architectures"][wildcards.arch]
    return res.arch_cost(arch, int(wildcards.size), _n_classes(wildcards.dataset))


def train_gpu(wildcards):
    """GPUs per training job: 1 with `training.gpu: true` (SLURM: --gpus=1; locally
    `--resources gpu=N` runs at most N at once), else 0 (the job hides any GPU)."""
    return 1 if config["training"].get("gpu", False) else 0


def train_threads(wildcards):
    """1 thread below 100 px, 2 below 200 px, else 4 (mobileclf.resources.train_threads);
    a workstation caps it at --cores."""
    return res.train_threads(int(wildcards.size))


def train_mem_mb(wildcards, attempt):
    """Peak memory of one training job from image size, dataset size, batch size and the
    architecture's parameter and activation counts; a retry asks for attempt x as much.
    """
    params, activations, _ = _train_cost(wildcards)
    training = config["training"]
    return res.train_mem_mb(
        int(wildcards.size),
        _dataset_images(wildcards.dataset),
        training.get("batch_size", 10),
        params,
        activations,
        training.get("optimizer", "sgd"),
        attempt,
    )


def train_runtime(wildcards, attempt):
    """Wall-time minutes of one training job from its multiply-adds, images and epochs
    (seed 000: 10-600 min per image size of its GPU grid); attempt x as long on retries.
    """
    _, _, macs = _train_cost(wildcards)
    return res.train_runtime(
        _dataset_images(wildcards.dataset),
        config["training"].get("epochs", 50),
        macs,
        train_threads(wildcards),
        bool(train_gpu(wildcards)),
        attempt,
    )


def light_mem_mb(wildcards, attempt):
    """Jobs that read tables or one image at a time (demo, ingest, split, aggregate)."""
    return res.light_mem_mb(attempt=attempt)


def light_runtime(wildcards, attempt):
    """Decoding every image once: a few minutes plus ~20 ms per image."""
    return res.light_runtime(_dataset_images(wildcards.dataset), attempt)


def resize_mem_mb(wildcards, attempt):
    """The resize job holds the whole size x size uint8 array of the dataset."""
    return res.light_mem_mb(
        _dataset_images(wildcards.dataset), int(wildcards.size), attempt
    )


def get_cv_metrics(wildcards):
    return expand(
        "results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        dataset=wildcards.dataset,
        arch=ARCHS,
        generator=GENERATORS,
        size=SIZES,
        fold=FOLDS,
    )


def get_final_outputs():
    outputs = []
    for dataset in DATASETS:
        outputs += [
            f"results/{dataset}/selection.json",
            f"results/{dataset}/tables/cv_summary.md",
            f"results/{dataset}/plots/cv_heatmap.png",
        ]
    return outputs
