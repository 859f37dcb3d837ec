# Helpers shared by all rules: config validation, wildcard constraints, input functions.
# Kept free of TensorFlow so that parsing the workflow takes well under a second.
import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from mobileclf.workflow import resources as res
from mobileclf.workflow.config import ConfigError, check_config
from mobileclf.faults import attempt_of


def validate_config(config):
    """Short messages naming each bad key (and the closest valid one) instead of the
    schema dump of snakemake.utils.validate, which then only fills in the defaults."""
    try:
        check_config(
            config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
        )
    except ConfigError as error:
        raise WorkflowError(str(error)) from None
    validate(config, schema="../schemas/config.schema.yaml")


validate_config(config)


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


# Sizes below training.batch_folds_below train every fold of an arch x generator x size
# in one job (train_cv_folds): there TensorFlow's start-up (~7 CPU-s) would cost more than
# a fold's training. Larger sizes get one job per fold (train_cv), which a cluster runs
# side by side. Both write the same per-fold files.
BATCH_FOLDS_BELOW = int(config["training"]["batch_folds_below"])  # schema default
BATCHED_SIZES = [size for size in SIZES if size < BATCH_FOLDS_BELOW]
PER_FOLD_SIZES = [size for size in SIZES if size >= BATCH_FOLDS_BELOW]


def size_pattern(sizes):
    """A wildcard constraint matching exactly these sizes; none at all when empty."""
    return _alternatives(sizes) if sizes else "(?!)"


wildcard_constraints:
    dataset=_alternatives(DATASETS),
    size=_alternatives(SIZES),
    generator=_alternatives(GENERATORS),
    arch=_alternatives(ARCHS),
    fold=r"\d+",
    variant=r"float32|dynamic|int8|float16",


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


# Where and how jobs run, not what they compute: editing these must not rerun training.
SCHEDULING_KEYS = {"gpu", "batch_folds_below"}


def get_training_spec(wildcards):
    """The training section without scheduling keys (SCHEDULING_KEYS)."""
    return as_json(
        {k: v for k, v in config["training"].items() if k not in SCHEDULING_KEYS}
    )


def get_positive_class(wildcards):
    """Disease class for sensitivity/specificity; empty: the second label (sorted)."""
    return config["datasets"][wildcards.dataset].get("positive_class", "")


def get_job_seed(wildcards):
    """One seed per fold: folds differ, and reruns of a job repeat it exactly."""
    return int(config.get("seed", 42)) + int(wildcards.fold)


def get_fold_seeds(wildcards):
    """train_cv_folds: each fold's seed, the same as its one-fold job would use."""
    return [int(config.get("seed", 42)) + fold for fold in FOLDS]


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
    """1 thread below 100 px, 2 below 200 px, else 4 (mobileclf.workflow.resources.train_threads);
    a workstation caps it at --cores."""
    return res.train_threads(int(wildcards.size))


def _train_mem_mb(wildcards, retries):
    """Peak memory of one training from image size, dataset size, batch size and the
    architecture's parameter and activation counts, ``retries`` x as much on retries."""
    params, activations, _ = _train_cost(wildcards)
    training = config["training"]
    return res.train_mem_mb(
        int(wildcards.size),
        _dataset_images(wildcards.dataset),
        training.get("batch_size", 10),
        params,
        activations,
        training.get("optimizer", "sgd"),
        retries,
    )


def train_mem_mb(wildcards, attempt):
    """A retry (Snakemake's attempt) asks for attempt x as much, and so does the next run
    after out-of-memory failures recorded in metrics.json (mobileclf.faults: each one adds
    1 to its attempt number)."""
    return _train_mem_mb(wildcards, attempt + get_train_attempt(wildcards))


def train_folds_mem_mb(wildcards, attempt):
    """train_cv_folds: one fold at a time, so one fold's memory (folds' models are freed
    in between), sized for the fold with the most out-of-memory failures."""
    return _train_mem_mb(wildcards, attempt + max(get_fold_attempts(wildcards)))


def train_folds_runtime(wildcards, attempt):
    """train_cv_folds: the folds one after the other."""
    return len(FOLDS) * train_runtime(wildcards, attempt)


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


def _cv_metrics(wildcards, fold):
    """The metrics.json of one fold of the job's arch x generator x size."""
    return "results/{w.dataset}/cv/{w.arch}/{w.generator}/{w.size}/fold{fold}/metrics.json".format(
        w=wildcards, fold=fold
    )


def get_train_attempt(wildcards):
    """Retry token: the attempt number in the job's existing metrics.json (0 if none).

    A job that ran out of resources records status=failed and attempt+1, so this
    parameter changes and Snakemake reruns exactly the failed jobs (mobileclf.faults).
    """
    return attempt_of(_cv_metrics(wildcards, wildcards.fold))


def get_fold_attempts(wildcards):
    """train_cv_folds: each fold's retry token. One failed fold reruns the whole job; its
    other folds are trained again with the same seeds, so they repeat their numbers."""
    return [attempt_of(_cv_metrics(wildcards, fold)) for fold in FOLDS]


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
        outputs += export_outputs(dataset)
        if segmentation_options(dataset):
            outputs.append(f"results/{dataset}/plots/segmentation.png")
        outputs += [f"results/{dataset}/report.html", f"results/{dataset}/report.md"]
    if len(DATASETS) > 1:
        outputs.append("results/index.html")
    return outputs


# --- final model and export (workflow/rules/export.smk) ---------------------------------

EXPORT = config.get("export", {})
VARIANTS = list(EXPORT.get("variants", ["float32", "dynamic", "int8", "float16"]))


def get_final_spec(wildcards):
    """What the final model is built from: reduction.json when parameter reduction runs
    (it carries the reduced layer list), else selection.json (layers from the config).
    """
    name = "reduction.json" if reduction_enabled() else "selection.json"
    return f"results/{wildcards.dataset}/{name}"


def get_all_arrays(wildcards):
    """Every resized array: the chosen size is only known once selection.json exists,
    and all sizes exist anyway (the CV grid trained on them)."""
    return expand(
        "results/{dataset}/arrays/{size}.npy", dataset=wildcards.dataset, size=SIZES
    )


def get_architectures(wildcards):
    return as_json(config["architectures"])


def get_generators(wildcards):
    return as_json(config["generators"])


def get_final_val_fraction(wildcards):
    """Validation share for early stopping of the final model; 0 when it is off, so that
    changing split.val_fraction does not retrain a final model that ignores it."""
    if config["training"].get("early_stopping_patience"):
        return config.get("split", {}).get("val_fraction", 0.1)
    return 0.0


def get_final_seed(wildcards):
    return int(config.get("seed", 42))


def get_calibration_images(wildcards):
    """int8 calibration sample size; other variants ignore it (so it never reruns them)."""
    return EXPORT.get("calibration_images", 200) if wildcards.variant == "int8" else 0


def get_metadata_fields(wildcards):
    return as_json(EXPORT.get("metadata", {}))


def get_export_tolerance(wildcards):
    return EXPORT.get("tolerance", 1e-4)


def get_deploy_models(wildcards):
    return expand(
        "results/{dataset}/deploy/model_{variant}.tflite",
        dataset=wildcards.dataset,
        variant=VARIANTS,
    )


def get_metadata_read_backs(wildcards):
    return expand(
        "results/{dataset}/export/metadata_{variant}.json",
        dataset=wildcards.dataset,
        variant=VARIANTS,
    )


def get_resize_for_card(wildcards):
    """How the app must resize images: the same mode and resampling as training."""
    return as_json(
        {
            "mode": config["resize"].get("mode", "stretch"),
            "resample": config["resize"].get("resample", "bilinear"),
        }
    )


def _max_size():
    return max(SIZES)


def _final_costs(wildcards):
    """(parameters, activations, multiply-adds) of the costliest architecture at the
    largest size: the selection that picks the final model is unknown at DAG time."""
    n_classes = _n_classes(wildcards.dataset)
    costs = [
        res.arch_cost(config["architectures"][arch], _max_size(), n_classes)
        for arch in ARCHS
    ]
    return tuple(max(cost[i] for cost in costs) for i in range(3))


def final_threads(wildcards):
    """Like train_threads, for the largest size the selection may pick."""
    return res.train_threads(_max_size())


def final_mem_mb(wildcards, attempt):
    """As a CV job of the costliest architecture at the largest size (train_mem_mb)."""
    params, activations, _ = _final_costs(wildcards)
    training = config["training"]
    return res.train_mem_mb(
        _max_size(),
        _dataset_images(wildcards.dataset),
        training.get("batch_size", 10),
        params,
        activations,
        training.get("optimizer", "sgd"),
        attempt,
    )


def final_runtime(wildcards, attempt):
    """As a CV job of the costliest architecture at the largest size (train_runtime):
    the estimate already counts every image, the final model's training set included."""
    _, _, macs = _final_costs(wildcards)
    return res.train_runtime(
        _dataset_images(wildcards.dataset),
        config["training"].get("epochs", 50),
        macs,
        final_threads(wildcards),
        bool(train_gpu(wildcards)),
        attempt,
    )


def export_mem_mb(wildcards, attempt):
    """Conversion/verification load one model and the images of one size."""
    size = _max_size()
    return int(2000 + 0.02 * size * size) * attempt


def export_runtime(wildcards, attempt):
    """Minutes; conversion takes seconds, int8 calibration up to a few minutes at 300 px."""
    return 20 * attempt


def export_outputs(dataset):
    """The deploy bundle of one dataset (final targets)."""
    return [
        f"results/{dataset}/final/metrics.json",
        f"results/{dataset}/tables/export.csv",
        f"results/{dataset}/deploy/labels.txt",
        f"results/{dataset}/deploy/metadata.json",
        f"results/{dataset}/deploy/model_card.md",
    ] + [f"results/{dataset}/deploy/model_{variant}.tflite" for variant in VARIANTS]


def warn_about_skipped_work():
    """After a successful run, say on the console what the tables mark but a user might
    miss: rejected input files and training jobs recorded as failed (mobileclf.faults).
    """
    import csv

    for dataset in DATASETS:
        rejects = Path(f"results/{dataset}/tables/rejects.csv")
        if rejects.exists():
            with open(rejects, newline="", encoding="utf-8") as handle:
                count = sum(1 for _ in csv.DictReader(handle))
            if count:
                logger.warning(
                    f"{dataset}: {count} file(s) rejected at ingest, see {rejects}"
                )
        runs = Path(f"results/{dataset}/tables/cv_runs.csv")
        if runs.exists():
            with open(runs, newline="", encoding="utf-8") as handle:
                failed = [r for r in csv.DictReader(handle) if r["status"] != "ok"]
            for r in failed:
                logger.warning(
                    f"{dataset}: training {r['arch']}/{r['generator']}/{r['size']} fold "
                    f"{r['fold']} {r['status']}: {r.get('error', '')}; its cell is marked "
                    "incomplete in cv_summary.csv and the next run retries it"
                )


# ---- parameter reduction (workflow/rules/reduction.smk) --------------------------------
# The grid helpers are plain Python (no TensorFlow, no pandas): cheap at parse time.
sys.path.insert(0, str(Path(workflow.basedir) / "scripts"))
from mobileclf.reduce.grid import (  # noqa: E402
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
    reused, only cells no block holds yet get new blocks (mobileclf.reduce.grid)."""
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


# --- mobile emulation, latency and the report (workflow/rules/mobile.smk) -------------

MOBILE = config.get("mobile", {})
MOBILE_SEVERITIES = list(range(len(MOBILE.get("camera_levels", [{}]))))


wildcard_constraints:
    severity=r"\d+",


def mobile_variant_pattern():
    """mobile_predict also runs the Keras model ("keras") besides the exported files."""
    return _alternatives(["keras", *VARIANTS])


def get_mobile_model(wildcards):
    """The Keras "computer" model or one exported TFLite file."""
    if wildcards.variant == "keras":
        return f"results/{wildcards.dataset}/final/model.keras"
    return f"results/{wildcards.dataset}/deploy/model_{wildcards.variant}.tflite"


def get_mobile_reference_options(wildcards):
    """Training resize rule (computer path), decode limits, phone-test draw."""
    ingest = config["datasets"][wildcards.dataset].get("ingest", {})
    return as_json(
        {
            "mode": config["resize"].get("mode", "stretch"),
            "resample": config["resize"].get("resample", "bilinear"),
            "max_pixels": ingest.get("max_pixels", 100_000_000),
            "oversize": ingest.get("oversize", "reject"),
            "phone_test_per_class": MOBILE.get("phone_test_per_class", 5),
            "seed": config.get("seed", 42),
            "segmentation": segmentation_options(wildcards.dataset),
        }
    )


def get_camera_level(wildcards):
    """One severity level only: editing level 2 reruns level 2's emulation alone."""
    ingest = config["datasets"][wildcards.dataset].get("ingest", {})
    return as_json(
        {
            "conditions": MOBILE.get("camera_levels", [{}])[int(wildcards.severity)],
            "sensor_orientation": MOBILE.get("sensor_orientation", 90),
            "max_pixels": ingest.get("max_pixels", 100_000_000),
            "oversize": ingest.get("oversize", "reject"),
            "seed": config.get("seed", 42),
            "segmentation": segmentation_options(wildcards.dataset),
        }
    )


def get_camera_inputs(wildcards):
    return expand(
        "results/{dataset}/mobile/inputs/camera_{severity}.npy",
        dataset=wildcards.dataset,
        severity=MOBILE_SEVERITIES,
    )


def get_camera_examples(wildcards):
    return expand(
        "results/{dataset}/mobile/inputs/camera_{severity}_examples.npz",
        dataset=wildcards.dataset,
        severity=MOBILE_SEVERITIES,
    )


def get_mobile_predictions(wildcards):
    return expand(
        "results/{dataset}/mobile/predictions/{variant}.csv",
        dataset=wildcards.dataset,
        variant=["keras", *VARIANTS],
    )


def get_verdict_options(wildcards):
    """Thresholds, plus the generators (the verdict checks whether the selected one
    augments brightness and rotation)."""
    return as_json(
        {
            "thresholds": MOBILE.get(
                "thresholds",
                {
                    "gallery_accuracy": 0.85,
                    "camera_accuracy": 0.8,
                    "camera_severity": 1,
                },
            ),
            "generators": config["generators"],
        }
    )


def get_latency_options(wildcards):
    return as_json(MOBILE.get("latency", {}))


def mobile_latency_threads(wildcards):
    """Reserve as many cores as the largest thread count measured (capped by --cores),
    so no other job competes with the timing."""
    wanted = max(MOBILE.get("latency", {}).get("threads", [1, 4]))
    return min(wanted, workflow.cores) if workflow.cores else wanted


def get_report_inputs(wildcards):
    """Everything the report shows; reduction.json only when that stage is in the DAG."""
    d = wildcards.dataset
    inputs = {
        "manifest": f"results/{d}/manifest.csv",
        "splits": f"results/{d}/splits.csv",
        "labels": f"results/{d}/labels.txt",
        "cv_summary": f"results/{d}/tables/cv_summary.csv",
        "cv_heatmap": f"results/{d}/plots/cv_heatmap.png",
        "selection": f"results/{d}/selection.json",
        "export": f"results/{d}/tables/export.csv",
        "final_metrics": f"results/{d}/final/metrics.json",
        "spec": f"results/{d}/final/spec.json",
        "mobile": f"results/{d}/tables/mobile.csv",
        "phone_test": f"results/{d}/tables/phone_test.csv",
        "latency": f"results/{d}/tables/latency.csv",
        "robustness": f"results/{d}/plots/mobile_robustness.png",
        "contact_sheet": f"results/{d}/plots/camera_contact_sheet.png",
        "verdict": f"results/{d}/verdict.json",
    }
    if config.get("reduction", {}).get("enabled"):
        inputs["reduction"] = f"results/{d}/reduction.json"
    return inputs


onsuccess:
    warn_about_skipped_work()
