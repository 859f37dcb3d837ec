"""The ``params`` of every rule, as pure functions of the default-filled config and a job's
wildcards (plus selection.json's content for the reduction summary).

Params are the rerun contract: Snakemake reruns a job when one of its params changes, so
each function returns exactly what its job depends on and nothing that may change while
the job's result does not (scheduling keys, other severity levels, the int8 calibration
size for the float variants). Config sections travel to the entry points as one quoted
JSON argument with sorted keys (:func:`as_json`), so the text only changes with the values.
Functions are named after the stage whose rule uses them.
"""

from __future__ import annotations

import json

from mobileclf.faults import attempt_of
from mobileclf.mobile import EMULATION_VERSION
from mobileclf.reduce.grid import expand_axis
from mobileclf.workflow.targets import (
    cv_metrics_path,
    folds,
    phone_view_generators,
    segmentation_options,
)

# Where and how jobs run, not what they compute: editing these must not rerun training.
SCHEDULING_KEYS = {"gpu", "batch_folds_below"}


def as_json(value) -> str:
    """Config sections travel to the entry points as one quoted JSON argument."""
    return json.dumps(value, sort_keys=True)


def _decode_limits(config: dict, dataset: str) -> dict:
    """The dataset's image-decoding limits (ingest.max_pixels / oversize), which every job
    that opens the original images applies as ingest did."""
    ingest = config["datasets"][dataset]["ingest"]
    return {"max_pixels": ingest["max_pixels"], "oversize": ingest["oversize"]}


def _resize_rule(config: dict) -> dict:
    return {"mode": config["resize"]["mode"], "resample": config["resize"]["resample"]}


# --- stages 1-3: demo data, ingest, split, segment, resize ------------------------------


def demo_per_class(config: dict, wildcards) -> int:
    return config["datasets"][wildcards.dataset]["demo_per_class"]


def ingest_options(config: dict, wildcards) -> str:
    return as_json(config["datasets"][wildcards.dataset]["ingest"])


def split_options(config: dict, wildcards) -> str:
    return as_json({**config["split"], "seed": config["seed"]})


def segment_options(config: dict, wildcards) -> str:
    return as_json(
        {
            **segmentation_options(config, wildcards.dataset),
            **_decode_limits(config, wildcards.dataset),
        }
    )


def resize_options(config: dict, wildcards) -> str:
    return as_json({**_resize_rule(config), **_decode_limits(config, wildcards.dataset)})


# --- stage 4: cross-validation (train_cv, train_cv_folds) and fetch_imagenet -------------


def arch_spec(config: dict, wildcards) -> str:
    return as_json(config["architectures"][wildcards.arch])


# phone_views keys added after phone generators existed, and the value that changes
# nothing (plain_*: the schema default; joint_probability: no schema default, 0 = unset)
LATER_PHONE_KEYS = {
    "plain_epochs": 0,
    "plain_pass": False,
    "draws_per_epoch": 1,
    "joint_probability": 0,
}


def _generator(config: dict, name: str) -> dict:
    """A generator's config as training params carry it: LATER_PHONE_KEYS at their
    defaults left out."""
    generator = config["generators"][name]
    section = generator.get("phone_views")
    if not section:
        return generator
    # the filled config has them at their defaults: left out, old trainings do not rerun
    kept = {
        k: v for k, v in section.items() if k not in LATER_PHONE_KEYS or v != LATER_PHONE_KEYS[k]
    }
    return {**generator, "phone_views": kept}


def generator_spec(config: dict, wildcards) -> str:
    return as_json(_generator(config, wildcards.generator))


def backbone_spec(config: dict, wildcards) -> str:
    return as_json(config["architectures"][wildcards.arch]["backbone"])


def training_spec(config: dict, wildcards) -> str:
    """The training section without scheduling keys (SCHEDULING_KEYS)."""
    return as_json({k: v for k, v in config["training"].items() if k not in SCHEDULING_KEYS})


def positive_class(config: dict, wildcards) -> str:
    """Disease class for sensitivity/specificity; empty: the second label (sorted)."""
    return config["datasets"][wildcards.dataset]["positive_class"]


def job_seed(config: dict, wildcards) -> int:
    """One seed per fold: folds differ, and reruns of a job repeat it exactly."""
    return int(config["seed"]) + int(wildcards.fold)


def fold_seeds(config: dict, wildcards) -> list[int]:
    """train_cv_folds: each fold's seed, the same as its one-fold job would use."""
    return [int(config["seed"]) + fold for fold in folds(config)]


def train_attempt(config: dict, wildcards) -> int:
    """Retry token: the attempt number in the job's existing metrics.json (0 if none).

    A job that ran out of resources records status=failed and attempt+1, so this
    parameter changes and Snakemake reruns exactly the failed jobs (mobileclf.faults).
    """
    return attempt_of(cv_metrics_path(wildcards, wildcards.fold))


def fold_attempts(config: dict, wildcards) -> list[int]:
    """train_cv_folds: each fold's retry token. One failed fold reruns the whole job; its
    other folds are trained again with the same seeds, so they repeat their numbers."""
    return [attempt_of(cv_metrics_path(wildcards, fold)) for fold in folds(config)]


# --- stage 7: parameter reduction -------------------------------------------------------


def reduction_seed(config: dict, wildcards) -> int:
    """Base seed of a block; fold k trains with seed + k, as the CV grid's jobs."""
    return int(config["seed"])


def reduction_arch(config: dict, selection: dict) -> str:
    """The selected architecture (``selection``: selection.json's content)."""
    return as_json(config["architectures"][selection["arch"]])


def reduction_generator(config: dict, selection: dict) -> str:
    return as_json(_generator(config, selection["generator"]))


def reduction_grid(config: dict, wildcards) -> str:
    """What the summary depends on: the grid and the tolerance (not the block size)."""
    section = config["reduction"]
    return as_json(
        {
            "filters": expand_axis(section["filters"]),
            "neurons": expand_axis(section["neurons"]),
            "tolerance": section["tolerance"],
        }
    )


# --- final model and export (train_final, convert, add_metadata, verify_export, model_card)


def final_architecture(config: dict, selection: dict) -> str:
    """train_final's architectures: the chosen one only (``selection``: choice.json), so
    adding, removing or editing another architecture does not retrain the final model."""
    return as_json({selection["arch"]: config["architectures"][selection["arch"]]})


def final_generator(config: dict, selection: dict) -> str:
    """train_final's generators: the chosen one only."""
    generator = selection["generator"]
    return as_json({generator: _generator(config, generator)})


def final_val_fraction(config: dict, wildcards) -> float:
    """Validation share for early stopping of the final model; 0 when it is off, so that
    changing split.val_fraction does not retrain a final model that ignores it."""
    if config["training"]["early_stopping_patience"]:
        return config["split"]["val_fraction"]
    return 0.0


def final_seed(config: dict, wildcards) -> int:
    return int(config["seed"])


def calibration_images(config: dict, wildcards) -> int:
    """int8 calibration sample size; other variants ignore it (so it never reruns them)."""
    return config["export"]["calibration_images"] if wildcards.variant == "int8" else 0


def metadata_fields(config: dict, wildcards) -> str:
    return as_json(config["export"]["metadata"])


def export_tolerance(config: dict, wildcards) -> float:
    return config["export"]["tolerance"]


def card_resize(config: dict, wildcards) -> str:
    """How the app must resize images: the same mode and resampling as training."""
    return as_json(_resize_rule(config))


# --- mobile testing ---------------------------------------------------------------------


def mobile_reference_options(config: dict, wildcards) -> str:
    """Training resize rule (computer path), decode limits, phone-test draw."""
    return as_json(
        {
            **_resize_rule(config),
            **_decode_limits(config, wildcards.dataset),
            "phone_test_per_class": config["mobile"]["phone_test_per_class"],
            "seed": config["seed"],
            "segmentation": segmentation_options(config, wildcards.dataset),
        }
    )


def camera_level(config: dict, wildcards) -> str:
    """One severity level only: editing level 2 reruns level 2's emulation alone."""
    mobile = config["mobile"]
    return as_json(
        {
            "conditions": mobile["camera_levels"][int(wildcards.severity)],
            "emulation": EMULATION_VERSION,
            "sensor_orientation": mobile["sensor_orientation"],
            **_decode_limits(config, wildcards.dataset),
            "seed": config["seed"],
            "segmentation": segmentation_options(config, wildcards.dataset),
        }
    )


def selection_camera_severity(config: dict, wildcards) -> int:
    """The camera level of cv_summary's ``mean_camera_accuracy``, only when selection ranks
    by it (-1: no such column): otherwise an edit of mobile.thresholds would rerun the CV
    tables, the selection and everything after it for a column nothing reads."""
    if config["selection"]["metric"] != "mean_camera_accuracy":
        return -1
    return int(config["mobile"]["thresholds"]["camera_severity"])


def phone_inputs_options(config: dict, wildcards) -> str:
    """Every camera level (CV scores all of them), decode limits, seed and the app's
    segmentation: what the phone_inputs emulation depends on, and nothing else."""
    mobile = config["mobile"]
    return as_json(
        {
            "camera_levels": mobile["camera_levels"],
            "emulation": EMULATION_VERSION,
            "sensor_orientation": mobile["sensor_orientation"],
            **_decode_limits(config, wildcards.dataset),
            "seed": config["seed"],
            "segmentation": segmentation_options(config, wildcards.dataset),
        }
    )


def mediapipe_options(config: dict, wildcards) -> str:
    """How mobile_predict decodes the holdout images it gives MediaPipe (as the gallery
    path does): decode limits and the app's segmentation, nothing else."""
    return as_json(
        {
            **_decode_limits(config, wildcards.dataset),
            "segmentation": segmentation_options(config, wildcards.dataset),
        }
    )


def verdict_options(config: dict, selection: dict) -> str:
    """Thresholds, plus the chosen generator (``selection``: choice.json; the verdict
    checks whether it augments brightness and rotation) and the phone-path generators (the
    verdict's computer-vs-phone table names the best of them). Other generators are left
    out: editing one that was not chosen and has no phone_views must not rerun the phone
    tests."""
    generator = selection["generator"]
    chosen = {generator: _generator(config, generator)}
    phone = {name: _generator(config, name) for name in phone_view_generators(config)}
    return as_json(
        {"thresholds": config["mobile"]["thresholds"], "generators": {**chosen, **phone}}
    )


def latency_options(config: dict, wildcards) -> str:
    return as_json(config["mobile"]["latency"])


# --- phone-path generator (mobileclf.train.phone_views) ---------------------------------


def phone_views_options(config: dict, wildcards) -> str:
    """What a generator's views depend on: its phone_views ranges (not plain_probability,
    plain_epochs, plain_pass or draws_per_epoch, which only training reads:
    mobileclf.train.phone_views.TRAINING_ONLY), the camera's orientation, decoding, seed,
    segmentation. A joint_probability of 0 is left out, as unset (the same views)."""
    section = _generator(config, wildcards.generator)["phone_views"]
    from mobileclf.train.phone_views import TRAINING_ONLY  # NumPy and pandas, no TensorFlow

    return as_json(
        {
            "phone_views": {k: v for k, v in section.items() if k not in TRAINING_ONLY},
            "emulation": EMULATION_VERSION,
            "sensor_orientation": config["mobile"]["sensor_orientation"],
            **_decode_limits(config, wildcards.dataset),
            "seed": config["seed"],
            "segmentation": segmentation_options(config, wildcards.dataset),
        }
    )
