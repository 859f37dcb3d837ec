"""What ``rule all`` asks for: the final targets per dataset (:func:`final_outputs`) and
every file a job writes (:func:`job_outputs`), so that a deleted intermediate is rebuilt
by the plain command. Pure functions of the default-filled config, built on the grid axes
and input functions of :mod:`mobileclf.workflow.targets`; no TensorFlow (Snakemake calls
them while it builds the DAG).
"""

from __future__ import annotations

from types import SimpleNamespace

from mobileclf.workflow.targets import (
    archs,
    camera_examples,
    camera_inputs,
    datasets,
    folds,
    generators,
    mobile_predictions,
    phone_view_generators,
    phone_views_path,
    reduction_enabled,
    segmentation_options,
    sizes,
    variants,
)


def export_outputs(config: dict, dataset: str) -> list[str]:
    """The deploy bundle of one dataset (final targets)."""
    return [
        f"results/{dataset}/final/metrics.json",
        f"results/{dataset}/tables/export.csv",
        f"results/{dataset}/deploy/labels.txt",
        f"results/{dataset}/deploy/metadata.json",
        f"results/{dataset}/deploy/model_card.md",
    ] + [f"results/{dataset}/deploy/model_{variant}.tflite" for variant in variants(config)]


def final_outputs(config: dict) -> list[str]:
    """What ``rule all`` asks for: per dataset the CV tables, the selection, the reduction
    (when enabled), the deploy bundle, the segmentation figure (when enabled) and the
    report; with several datasets also the index page."""
    outputs = []
    for dataset in datasets(config):
        outputs += [
            f"results/{dataset}/selection.json",
            f"results/{dataset}/tables/cv_summary.md",
            f"results/{dataset}/plots/cv_heatmap.png",
        ]
        if reduction_enabled(config):
            outputs += [
                f"results/{dataset}/reduction.json",
                f"results/{dataset}/tables/reduction.csv",
                f"results/{dataset}/plots/reduction_heatmap.png",
                f"results/{dataset}/plots/reduction_tradeoff.png",
            ]
        outputs += export_outputs(config, dataset)
        if segmentation_options(config, dataset):
            outputs.append(f"results/{dataset}/plots/segmentation.png")
        outputs += [f"results/{dataset}/report.html", f"results/{dataset}/report.md"]
    if len(datasets(config)) > 1:
        outputs.append("results/index.html")
    return outputs


def job_outputs(config: dict) -> list[str]:
    """Every file a job writes, requested by ``rule all`` beside :func:`final_outputs`.

    Snakemake rebuilds a missing file only when a requested target needs it: a deleted
    fold's metrics.json, array or prediction was never rebuilt while the tables made from
    it were still newer than their other inputs ("Nothing to be done"). Requested by name,
    a missing intermediate is rebuilt by the plain command, and only what reads it (and
    sees different bytes: Snakemake compares checksums of newer inputs) reruns after it.
    Reduction blocks are left to reduction_summary's input function, which plans new
    blocks for cells no block on disk holds.
    """
    outputs = []
    for d in datasets(config):
        if config["datasets"][d]["demo"]:
            outputs.append(f"results/{d}/demo_data")
        if segmentation_options(config, d):
            outputs.append(f"results/{d}/segmented")
        outputs += [
            f"results/{d}/{name}"
            for name in ("manifest.csv", "labels.txt", "tables/rejects.csv", "splits.csv")
        ]
        outputs += [f"results/{d}/arrays/{size}.npy" for size in sizes(config)]
        outputs += [f"results/{d}/checks/{size}.json" for size in sizes(config)]
        outputs += [f"results/{d}/phone_inputs/{size}.npz" for size in sizes(config)]
        outputs += [
            phone_views_path(d, size, generator)
            for generator in phone_view_generators(config)
            for size in sizes(config)
        ]
        for arch in archs(config):
            for generator in generators(config):
                for size in sizes(config):
                    cell = f"results/{d}/cv/{arch}/{generator}/{size}"
                    outputs += [
                        f"{cell}/fold{fold}/{name}"
                        for fold in folds(config)
                        for name in ("metrics.json", "history.csv")
                    ]
        outputs += [
            f"results/{d}/{name}"
            for name in (
                "tables/cv_runs.csv",
                "tables/cv_summary.csv",
                "choice.json",
                "tables/cv_best.csv",
                "final/model.keras",
                "final/spec.json",
                "final/history.csv",
                "export/verify.json",
                "mobile/holdout.csv",
                "mobile/inputs/computer.npy",
                "mobile/inputs/gallery.npy",
            )
        ]
        for variant in variants(config):
            outputs += [
                f"results/{d}/export/plain_{variant}.tflite",
                f"results/{d}/export/metadata_{variant}.json",
            ]
        wildcards = SimpleNamespace(dataset=d)
        outputs += camera_inputs(config, wildcards) + camera_examples(config, wildcards)
        outputs += mobile_predictions(config, wildcards)
    return outputs
