# Helpers shared by all rules: config validation, wildcard constraints, input functions.
# Kept free of TensorFlow so that parsing the workflow takes well under a second.
import json
import os
import re

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")


def expand_batch_sizes(architectures):
    """Batch size as a grid axis (seed 001 compares 16/32/64): an architecture with
    ``batch_sizes: [16, 32]`` becomes the grid architectures ``{arch}_b16`` and
    ``{arch}_b32``, each with ``batch_size`` set, so every output path keeps the form
    results/{dataset}/cv/{arch}/... and selection.json's ``arch`` is a key of
    config["architectures"] like any other. Architectures without the list are unchanged.
    """
    expanded = {}
    for name, spec in architectures.items():
        if "batch_sizes" not in spec:
            expanded[name] = spec
            continue
        base = {key: value for key, value in spec.items() if key != "batch_sizes"}
        for batch in spec["batch_sizes"]:
            grid_name = f"{name}_b{batch}"
            if grid_name in architectures:
                raise ValueError(
                    f"architectures.{name}.batch_sizes makes {grid_name}, which is also "
                    "an architecture of its own; rename one of them"
                )
            expanded[grid_name] = {**base, "batch_size": batch}
    return expanded


config["architectures"] = expand_batch_sizes(config["architectures"])

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


def get_backbone_spec(wildcards):
    return as_json(config["architectures"][wildcards.arch]["backbone"])


def get_backbone_weights(wildcards):
    """What a backbone's training job needs first: the fetch_imagenet marker for
    ``weights: imagenet`` (ImageNet weights downloaded once, not by every job at the
    same time), the local weights file for a path (edits to it rerun the jobs), else
    nothing (``none`` and paper-style architectures)."""
    backbone = config["architectures"][wildcards.arch].get("backbone")
    if backbone is None or backbone["weights"] == "none":
        return []
    if backbone["weights"] == "imagenet":
        return f"results/_imagenet/{wildcards.arch}/{wildcards.size}.json"
    return backbone["weights"]


def backbone_mem_mb(wildcards, attempt):
    """Building a keras.applications backbone (ResNet101: 43 M parameters) takes ~2 GB."""
    return 2500 * attempt


def segmentation_options(dataset):
    """The dataset's ``segmentation`` section, or None when segmentation is off."""
    section = config["datasets"][dataset].get("segmentation", {})
    return section if section.get("enabled") else None


def get_segmentation_options(wildcards):
    ingest = config["datasets"][wildcards.dataset].get("ingest", {})
    return as_json(
        {
            **segmentation_options(wildcards.dataset),
            "max_pixels": ingest.get("max_pixels", 100_000_000),
            "oversize": ingest.get("oversize", "reject"),
        }
    )


def get_segmented_input(wildcards):
    """resize reads the segmented copies when the dataset's segmentation is enabled."""
    if segmentation_options(wildcards.dataset):
        return f"results/{wildcards.dataset}/segmented"
    return []


def get_resize_root(wildcards):
    if segmentation_options(wildcards.dataset):
        return f"results/{wildcards.dataset}/segmented"
    return dataset_root(wildcards.dataset)


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
        if segmentation_options(dataset):
            outputs.append(f"results/{dataset}/plots/segmentation.png")
    return outputs
