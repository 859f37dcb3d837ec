"""Inputs and params of the phone-check rules (bound in workflow/rules/phone_check.smk):
pure functions of the default-filled config and the wildcards, like
:mod:`mobileclf.workflow.targets` and :mod:`mobileclf.workflow.params`."""

from __future__ import annotations

import glob
import json

from mobileclf.workflow.targets import segmentation_options, variants


def page_models(config: dict, wildcards) -> list[str]:
    return [f"results/{wildcards.dataset}/deploy/model_{v}.tflite" for v in variants(config)]


def page_options(config: dict, wildcards) -> str:
    """What the page's images and input geometry depend on, and nothing else (the rerun
    contract): the decoding limits of ingest, the sensor orientation, segmentation on/off."""
    ingest = config["datasets"][wildcards.dataset]["ingest"]
    return json.dumps(
        {
            "max_pixels": ingest["max_pixels"],
            "oversize": ingest["oversize"],
            "sensor_orientation": config["mobile"]["sensor_orientation"],
            "segmentation": segmentation_options(config, wildcards.dataset) is not None,
        },
        sort_keys=True,
    )


def measured_runs(wildcards) -> list[str]:
    """The phone's accepted runs, listed when the DAG is built: a new file changes this
    list, so Snakemake reruns the table (and so the report) and nothing upstream."""
    return sorted(glob.glob(f"results/{wildcards.dataset}/phone_check/measured/*.json"))


def page_variants(config: dict, wildcards) -> str:
    return json.dumps(variants(config))


def pages(config: dict) -> list[str]:
    """The phone-check page of every dataset (rule all; docs/phone-check.md)."""
    from mobileclf.workflow.targets import datasets

    return [f"results/{d}/phone_check/page" for d in datasets(config)]
