# Helpers shared by all rules: config validation, wildcard constraints, input functions.
# Kept free of TensorFlow so that parsing the workflow takes well under a second.
import json
import os
import re
import sys
from pathlib import Path

from snakemake.utils import validate

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
    """The generated demo folder, or every regular file under the data root, so that adding,
    removing or editing an image reruns ingest (and, through the manifest, what depends on it).
    Symlinks and hidden files are left to ingest, which lists them in the manifest."""
    spec = config["datasets"][wildcards.dataset]
    if spec.get("demo"):
        return f"results/{wildcards.dataset}/demo_data"
    files = []
    for folder, subfolders, names in os.walk(spec["root"]):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = os.path.join(folder, name)
            if (
                not name.startswith(".")
                and os.path.isfile(path)
                and not os.path.islink(path)
            ):
                files.append(path)
    return sorted(files)


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
    return as_json(config["training"])


def get_positive_class(wildcards):
    """Disease class for sensitivity/specificity; empty: the second label (sorted)."""
    return config["datasets"][wildcards.dataset].get("positive_class", "")


def get_job_seed(wildcards):
    """One seed per fold: folds differ, and reruns of a job repeat it exactly."""
    return int(config.get("seed", 42)) + int(wildcards.fold)


def train_threads(wildcards):
    """Small images: one thread per job and more jobs side by side (TensorFlow start-up and
    small kernels scale poorly); from 100 px the big Dense update profits from 2-4 threads.
    """
    size = int(wildcards.size)
    return (
        1
        if size < 100
        else min(4, max(1, workflow.cores // 2 if workflow.cores else 2))
    )


def train_mem_mb(wildcards, attempt):
    """Memory estimate for one training job: arrays + model + optimizer state, with margin."""
    size = int(wildcards.size)
    return int(1500 + 0.05 * size * size * attempt) * attempt


def train_runtime(wildcards, attempt):
    """Minutes; seed 000 reports 10-600 min for a whole size on a GPU, we ask per fold."""
    size = int(wildcards.size)
    return (
        int(10 + size * size * config["training"].get("epochs", 50) / 20000) * attempt
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
        if reduction_enabled():
            outputs += [
                f"results/{dataset}/reduction.json",
                f"results/{dataset}/tables/reduction.csv",
                f"results/{dataset}/plots/reduction_heatmap.png",
                f"results/{dataset}/plots/reduction_tradeoff.png",
            ]
    return outputs


# ---- parameter reduction (workflow/rules/reduction.smk) --------------------------------
# The grid helpers are plain Python (no TensorFlow, no pandas): cheap at parse time.
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from mobileclf.reduction_grid import (  # noqa: E402
    BLOCK_PATTERN,
    expand_axis,
    grid_cells,
    parse_block_key,
    plan_blocks,
    skip_reason,
)


def reduction_enabled():
    """The stage runs when a `reduction` section is present and not `enabled: false`."""
    section = config.get("reduction")
    return bool(section) and section.get("enabled", True)


def reduction_cells():
    section = config["reduction"]
    return grid_cells(expand_axis(section["filters"]), expand_axis(section["neurons"]))


def reduction_selection(wildcards):
    """selection.json of the dataset. select_config is a checkpoint, so the reduction
    jobs are planned from the selected arch/generator/size once it exists (a dry run
    shows them as soon as selection.json is up to date)."""
    path = checkpoints.select_config.get(dataset=wildcards.dataset).output[0]
    return json.loads(Path(path).read_text())


def reduction_arch_spec(wildcards):
    return config["architectures"][reduction_selection(wildcards)["arch"]]


def reduction_folder(dataset, selection):
    return f"results/{dataset}/reduction/{selection['arch']}/{selection['generator']}/{selection['size']}"


def get_reduction_blocks(wildcards):
    """Block CSVs covering the grid for the selected model: finished blocks on disk are
    reused, only cells no block holds yet get new blocks (mobileclf.reduction_grid)."""
    selection = reduction_selection(wildcards)
    if skip_reason(config["architectures"][selection["arch"]]):
        return []
    folder = reduction_folder(wildcards.dataset, selection)
    existing = [path.stem for path in Path(folder, "blocks").glob("*.csv")]
    blocks = plan_blocks(
        reduction_cells(), existing, config["reduction"].get("block_size", 16)
    )
    return [f"{folder}/blocks/{key}.csv" for key in blocks]


def get_reduction_images(wildcards):
    """The selected size's image array: the summary measures the selected model's size
    on it (read only when the stage applies; it exists either way)."""
    size = reduction_selection(wildcards)["size"]
    return f"results/{wildcards.dataset}/arrays/{size}.npy"


def get_reduction_arch(wildcards):
    return as_json(reduction_arch_spec(wildcards))


def get_reduction_generator(wildcards):
    return as_json(config["generators"][reduction_selection(wildcards)["generator"]])


def get_reduction_grid(wildcards):
    """What the summary depends on: the grid and the tolerance (not the block size)."""
    section = config["reduction"]
    return as_json(
        {
            "filters": expand_axis(section["filters"]),
            "neurons": expand_axis(section["neurons"]),
            "tolerance": section.get("tolerance", 1.0),
        }
    )


def get_reduction_seed(wildcards):
    """Base seed of a block; fold k trains with seed + k, as the CV grid's jobs."""
    return int(config.get("seed", 42))


def _block_cells(wildcards):
    return parse_block_key(wildcards.cells)


def reduction_mem_mb(wildcards, attempt):
    """Arrays + every cell's model with gradients and optimizer state, with margin."""
    size = int(wildcards.size)
    model_mb = sum(
        (size // 2) ** 2 * f * n * 16 / 1e6 for f, n in _block_cells(wildcards)
    )
    return int(1500 + 0.05 * size * size + model_mb) * attempt


def reduction_runtime(wildcards, attempt):
    """Minutes for a block: cells x folds trainings, scaled like train_runtime per fold."""
    size = int(wildcards.size)
    trainings = len(_block_cells(wildcards)) * len(FOLDS)
    epochs = config["training"].get("epochs", 50)
    return int(10 + trainings * size * size * epochs / 200000) * attempt
