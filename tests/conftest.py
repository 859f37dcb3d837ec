"""Shared fixtures: the repository paths, a tiny workflow config and a Snakemake runner."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SHARED_CT = REPO.parent / "shared" / "datasets" / "sarscov2-ct-mini"
# rules call `python`: the one running the tests (the venv's), even when pytest was started
# as .venv/bin/python -m pytest without the venv on PATH
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

TINY_CONFIG = {
    "datasets": {"tiny": {"demo": True, "demo_per_class": 12, "positive_class": "lesion"}},
    "seed": 3,
    "split": {"folds": 2, "holdout_fraction": 0.15, "val_fraction": 0.1},
    "resize": {"sizes": [16, 24]},
    "generators": {
        "g1": {"rescale": 1 / 255},
        "g3": {
            "rescale": 1 / 255,
            "horizontal_flip": True,
            "rotation_range": 20,
            "featurewise_center": True,
            "featurewise_std_normalization": True,
        },
    },
    "architectures": {
        "tiny": {
            "layers": [
                {"type": "conv", "filters": 4},
                {"type": "maxpool"},
                {"type": "flatten"},
                {"type": "dense", "units": 8},
            ]
        }
    },
    "training": {
        "epochs": 2,
        "batch_size": 8,
        "optimizer": "adam",
        "learning_rate": 0.003,
        # one job per fold (train_cv), which the fault, rerun and SLURM tests are about;
        # tests of all-folds jobs (train_cv_folds, the default below 150 px) set it
        "batch_folds_below": 0,
    },
}


@pytest.fixture
def tiny_config() -> dict:
    """A fresh copy of the tiny config (tests may change it freely)."""
    return copy.deepcopy(TINY_CONFIG)


# Rules by stage, for rerun-contract tests: which jobs an edit may legitimately rerun.
PHONE_TESTS_AND_REPORT = {
    "mobile_predict",
    "mobile_tables",
    "mobile_latency",
    "report",
    "report_index",
}
AFTER_REDUCTION = PHONE_TESTS_AND_REPORT | {
    "train_final",
    "convert",
    "add_metadata",
    "verify_export",
    "model_card",
    "mobile_reference_inputs",
    "mobile_camera_inputs",
}
DOWNSTREAM_OF_SELECTION = AFTER_REDUCTION | {"reduction_block", "reduction_summary"}


def write_config(workdir: Path, config: dict, name: str = "config.yaml") -> Path:
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(
    workdir: Path, config: dict, *extra: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run the repository's workflow in ``workdir`` with ``config``; return the process."""
    configfile = write_config(workdir, config)
    command = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
        )
    return result


def planned_jobs(workdir: Path, config: dict, *extra: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run would execute: the rerun contract's evidence."""
    result = run_snakemake(workdir, config, "-n", *extra)
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in (result.stdout + result.stderr).splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ", "checkpoint ")) and stripped.endswith(":"):
            jobs.append((stripped.split()[1].rstrip(":"), {}))
        elif stripped.startswith("wildcards:") and jobs:
            pairs = stripped.removeprefix("wildcards:").split(",")
            jobs[-1][1].update(p.strip().split("=", 1) for p in pairs)
    return jobs
