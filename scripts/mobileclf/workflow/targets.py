"""Which files each job reads: the grid axes and the input functions of the rules (the
targets of ``rule all`` are in :mod:`mobileclf.workflow.outputs`), as pure functions of the
default-filled config (:func:`mobileclf.workflow.config.prepare_config`) and a job's
wildcards (anything with ``.dataset``, ``.arch``, ... attributes: Snakemake's Wildcards).

Functions are named after the stage whose rule uses them (``ingest_input`` for rule
``ingest``). Plain Python, no TensorFlow: Snakemake calls these while it builds the DAG.
Paths are relative to the working directory, as in the rules.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mobileclf.data.tree import snakemake_unsafe
from mobileclf.reduce.grid import expand_axis, grid_cells, plan_blocks, skip_reason

# --- grid axes: the values of the wildcards ------------------------------------------------


def wildcard_pattern(values) -> str:
    """A wildcard constraint matching exactly these values; none at all when empty (a rule
    whose sizes are all batched, or all per fold, then matches no job)."""
    return "|".join(re.escape(str(v)) for v in values) if values else "(?!)"


def datasets(config: dict) -> list[str]:
    return sorted(config["datasets"])


def sizes(config: dict) -> list[int]:
    return sorted(config["resize"]["sizes"])


def generators(config: dict) -> list[str]:
    return sorted(config["generators"])


def archs(config: dict) -> list[str]:
    return sorted(config["architectures"])


def folds(config: dict) -> list[int]:
    return list(range(config["split"]["folds"]))


def variants(config: dict) -> list[str]:
    """The exported TFLite variants, in the config's order."""
    return list(config["export"]["variants"])


def severities(config: dict) -> list[int]:
    """Camera severity levels: indices into mobile.camera_levels."""
    return list(range(len(config["mobile"]["camera_levels"])))


def batched_sizes(config: dict) -> list[int]:
    """Sizes below training.batch_folds_below train every fold of an arch x generator x
    size in one job (train_cv_folds): there TensorFlow's start-up (~7 CPU-s) would cost
    more than a fold's training. Larger sizes get one job per fold (train_cv)."""
    return [size for size in sizes(config) if size < int(config["training"]["batch_folds_below"])]


def per_fold_sizes(config: dict) -> list[int]:
    below = int(config["training"]["batch_folds_below"])
    return [size for size in sizes(config) if size >= below]


# --- which stages run -----------------------------------------------------------------------


def reduction_enabled(config: dict) -> bool:
    """The reduction stage runs when a ``reduction`` section is present and not
    ``enabled: false`` (the schema fills in ``enabled: true``). The one test for it: the
    final spec, the final targets and the report's inputs all ask here."""
    section = config.get("reduction")
    return bool(section) and bool(section["enabled"])


def segmentation_options(config: dict, dataset: str) -> dict | None:
    """The dataset's ``segmentation`` section, or None when segmentation is off."""
    section = config["datasets"][dataset]["segmentation"]
    return section if section["enabled"] else None


# --- stages 1-3: demo data, ingest, segment, resize ------------------------------------------


def dataset_root(config: dict, dataset: str) -> str:
    """Folder the dataset's images are read from (generated for demo datasets)."""
    spec = config["datasets"][dataset]
    if spec["demo"]:
        return f"results/{dataset}/demo_data"
    return spec["root"]


def images_root(config: dict, wildcards) -> str:
    """The ``root`` param of the jobs that open the original images."""
    return dataset_root(config, wildcards.dataset)


def ingest_input(config: dict, wildcards) -> str | list[str]:
    """The generated demo folder, or every regular file under the data root, so that adding,
    removing or editing an image reruns ingest (and, through the manifest, what depends on
    it). Symlinks and hidden files are left to ingest, which lists them in the manifest, and
    so are paths with wildcard braces (``{wild}.png``), which Snakemake cannot take as an
    input (ingest rejects them with the path named)."""
    spec = config["datasets"][wildcards.dataset]
    if spec["demo"]:
        return f"results/{wildcards.dataset}/demo_data"
    files = []
    for folder, subfolders, names in os.walk(spec["root"]):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = os.path.join(folder, name)
            usable = os.path.isfile(path) and not os.path.islink(path)
            unsafe = snakemake_unsafe(os.path.relpath(path, spec["root"]))
            if not name.startswith(".") and usable and not unsafe:
                files.append(path)
    return sorted(files)


def segmented_input(config: dict, wildcards) -> str | list[str]:
    """resize reads the segmented copies when the dataset's segmentation is enabled."""
    if segmentation_options(config, wildcards.dataset):
        return f"results/{wildcards.dataset}/segmented"
    return []


def resize_root(config: dict, wildcards) -> str:
    if segmentation_options(config, wildcards.dataset):
        return f"results/{wildcards.dataset}/segmented"
    return dataset_root(config, wildcards.dataset)


# --- stages 4-6: cross-validation, aggregation -----------------------------------------------


def backbone_weights(config: dict, wildcards) -> str | list[str]:
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


def cv_metrics_path(wildcards, fold: int) -> str:
    """The metrics.json of one fold of the job's arch x generator x size."""
    w = wildcards
    return f"results/{w.dataset}/cv/{w.arch}/{w.generator}/{w.size}/fold{fold}/metrics.json"


def cv_metrics(config: dict, wildcards) -> list[str]:
    """aggregate_cv: every fold's metrics.json, arch-major as Snakemake's expand orders it."""
    d = wildcards.dataset
    return [
        f"results/{d}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json"
        for arch in archs(config)
        for generator in generators(config)
        for size in sizes(config)
        for fold in folds(config)
    ]


# --- stage 7: parameter reduction ------------------------------------------------------------


def reduction_folder(dataset: str, selection: dict) -> str:
    s = selection
    return f"results/{dataset}/reduction/{s['arch']}/{s['generator']}/{s['size']}"


def reduction_blocks(config: dict, wildcards, selection: dict) -> list[str]:
    """Block CSVs covering the grid for the selected model (``selection``: selection.json):
    finished blocks on disk are reused, only cells no block holds yet get new blocks
    (mobileclf.reduce.grid)."""
    if skip_reason(config["architectures"][selection["arch"]]):
        return []
    section = config["reduction"]
    folder = reduction_folder(wildcards.dataset, selection)
    existing = [path.stem for path in Path(folder, "blocks").glob("*.csv")]
    cells = grid_cells(expand_axis(section["filters"]), expand_axis(section["neurons"]))
    blocks = plan_blocks(cells, existing, section["block_size"])
    return [f"{folder}/blocks/{key}.csv" for key in blocks]


def selected_array(wildcards, selection: dict) -> str:
    """The chosen size's image array (``selection``: choice.json, read through the
    checkpoint), the only array the final model, the conversions and the verification
    read: adding or removing another size must not change their inputs."""
    return f"results/{wildcards.dataset}/arrays/{selection['size']}.npy"


def selected_check(wildcards, selection: dict) -> str:
    """check_data's record for the chosen size: the final model, export and phone-test
    jobs start only after their inputs passed it (workflow/rules/checks.smk)."""
    return f"results/{wildcards.dataset}/checks/{selection['size']}.json"


def reduction_images(wildcards, selection: dict) -> str:
    """The selected size's image array: the summary measures the selected model's size
    on it (read only when the stage applies; it exists either way)."""
    return selected_array(wildcards, selection)


# --- final model and export ------------------------------------------------------------------


def final_spec(config: dict, wildcards) -> str:
    """What the final model is built from: reduction.json when parameter reduction runs
    (it carries the reduced layer list), else choice.json (the chosen cell of
    selection.json, layers from the config): files whose bytes change only when the
    choice does, so a new cell that does not win retrains nothing."""
    name = "reduction.json" if reduction_enabled(config) else "choice.json"
    return f"results/{wildcards.dataset}/{name}"


def all_arrays(config: dict, wildcards) -> list[str]:
    """Every resized array (the CV grid's); the later stages read only
    :func:`selected_array`."""
    return [f"results/{wildcards.dataset}/arrays/{size}.npy" for size in sizes(config)]


def deploy_models(config: dict, wildcards) -> list[str]:
    d = wildcards.dataset
    return [f"results/{d}/deploy/model_{variant}.tflite" for variant in variants(config)]


def metadata_read_backs(config: dict, wildcards) -> list[str]:
    d = wildcards.dataset
    return [f"results/{d}/export/metadata_{variant}.json" for variant in variants(config)]


# --- mobile testing and the report -----------------------------------------------------------


def mobile_model(wildcards) -> str:
    """The Keras "computer" model or one exported TFLite file."""
    if wildcards.variant == "keras":
        return f"results/{wildcards.dataset}/final/model.keras"
    return f"results/{wildcards.dataset}/deploy/model_{wildcards.variant}.tflite"


def mobile_metadata(wildcards) -> list[str]:
    """The variant's metadata as read back by add_metadata; the Keras model has none."""
    if wildcards.variant == "keras":
        return []
    return [f"results/{wildcards.dataset}/export/metadata_{wildcards.variant}.json"]


def camera_inputs(config: dict, wildcards) -> list[str]:
    d = wildcards.dataset
    return [f"results/{d}/mobile/inputs/camera_{s}.npy" for s in severities(config)]


def camera_examples(config: dict, wildcards) -> list[str]:
    d = wildcards.dataset
    return [f"results/{d}/mobile/inputs/camera_{s}_examples.npz" for s in severities(config)]


def mobile_predictions(config: dict, wildcards) -> list[str]:
    """mobile_predict also runs the Keras model ("keras") besides the exported files."""
    d = wildcards.dataset
    return [f"results/{d}/mobile/predictions/{v}.csv" for v in ["keras", *variants(config)]]


def report_inputs(config: dict, wildcards) -> dict[str, str]:
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
        "phone_measured": f"results/{d}/tables/phone_measured.csv",  # docs/phone-check.md
    }
    if reduction_enabled(config):
        inputs["reduction"] = f"results/{d}/reduction.json"
    return inputs


# --- phone-path generator (rule phone_views) ---------------------------------------------


def phone_views_path(dataset: str, size: int | str, generator: str) -> str:
    return f"results/{dataset}/phone_views/{size}/{generator}.npy"


def phone_view_generators(config: dict) -> list[str]:
    """The generators that train on phone views (a ``phone_views`` section)."""
    return [g for g in generators(config) if config["generators"][g].get("phone_views")]


def phone_views(config: dict, wildcards) -> list[str]:
    """A CV job's phone views: its generator's at its size, none for other generators."""
    if wildcards.generator not in phone_view_generators(config):
        return []
    return [phone_views_path(wildcards.dataset, wildcards.size, wildcards.generator)]


def final_phone_views(config: dict, wildcards, selection: dict) -> list[str]:
    """train_final's phone views: the chosen generator's at the chosen size (``selection``:
    choice.json through the checkpoint), none when it has no ``phone_views`` section.
    Only the chosen cell's file, so a size or generator that does not win reruns nothing
    here (docs/reruns-and-recovery.md)."""
    if selection["generator"] not in phone_view_generators(config):
        return []
    return [phone_views_path(wildcards.dataset, selection["size"], selection["generator"])]
