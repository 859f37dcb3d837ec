# Helpers shared by all rules: config validation, wildcard constraints, input functions.
# Kept free of TensorFlow so that parsing the workflow takes well under a second.
import json
import os
import re

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
        outputs += export_outputs(dataset)
        outputs += [f"results/{dataset}/report.html", f"results/{dataset}/report.md"]
    if len(DATASETS) > 1:
        outputs.append("results/index.html")
    return outputs


# --- final model and export (workflow/rules/export.smk) ---------------------------------

EXPORT = config.get("export", {})
VARIANTS = list(EXPORT.get("variants", ["float32", "dynamic", "int8", "float16"]))


def reduction_enabled():
    return bool(config.get("reduction", {}).get("enabled", False))


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


def final_threads(wildcards):
    """Like train_threads, for the largest size the selection may pick (unknown at DAG time)."""
    return (
        1
        if _max_size() < 100
        else min(4, max(1, workflow.cores // 2 if workflow.cores else 2))
    )


def final_mem_mb(wildcards, attempt):
    """As a CV job at the largest size: the final model trains on ~1/k more images."""
    size = _max_size()
    return int(1500 + 0.06 * size * size * attempt) * attempt


def final_runtime(wildcards, attempt):
    """Minutes: one CV job's estimate at the largest size, with margin for the extra fold."""
    size = _max_size()
    return (
        int(15 + size * size * config["training"].get("epochs", 50) / 15000) * attempt
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


# Until export.smk moves to script: like the other stages (main bb939db), its shell
# commands need these two names; delete this block when it does. The interpreter running
# Snakemake is the one script: rules use, so both kinds of rule see the same packages.
PYTHON = __import__("sys").executable
SCRIPTS = Path(workflow.basedir) / "scripts"


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
