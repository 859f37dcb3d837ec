"""Shared by both lanes (tests/unit, tests/workflow): the repository paths, the tiny test
config (.test/config/config.yaml), the one Snakemake runner and the session's finished run.

It stays at the tests root: it puts scripts/ (the mobileclf library) and bench/ (the
Snakemake command line, bench/snakemake_cli.py) on sys.path for every test file.
"""

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
sys.path.append(str(REPO / "bench"))
from snakemake_cli import SNAKEMAKE, snakemake_command  # noqa: E402

__all__ = ["SNAKEMAKE", "snakemake_command"]
SHARED_CT = REPO.parent / "shared" / "datasets" / "sarscov2-ct-mini"
# rules call `python`: the one running the tests (the venv's), even when pytest was started
# as .venv/bin/python -m pytest without the venv on PATH
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

TINY_CONFIG_FILE = REPO / ".test" / "config" / "config.yaml"
# Read-only: tests that change the config take a deep copy (fixture tiny_config).
TINY_CONFIG = yaml.safe_load(TINY_CONFIG_FILE.read_text())


def one_job_per_cell(config: dict) -> dict:
    """``config`` with every cell's folds trained by one job (train_cv_folds): one
    TensorFlow start-up per cell instead of one per fold, the same numbers (see
    tests/workflow/test_pipeline.py, test_all_folds_jobs_give_the_numbers_of_one_fold_jobs).
    For runs whose tests are not about one-fold jobs; the tiny config itself keeps one job
    per fold for the fault, rerun and SLURM tests."""
    config["training"]["batch_folds_below"] = 10_000
    return config


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
    "phone_check",  # the phone-check page and its measured table (docs/phone-check.md)
    "phone_measured",
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
    """Run the repository's workflow in ``workdir`` with ``config`` on 2 cores; return the
    process. ``extra``: targets and Snakemake flags, targets before any flag taking several
    values (the command line is built by bench/snakemake_cli.py, the one place for it)."""
    configfile = write_config(workdir, config)
    command = snakemake_command(workdir, configfile, options=extra)
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


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> tuple[Path, dict]:
    """ONE real run of the whole pipeline with the tiny config (CV grid, selection, final
    model, export, phone tests, report), shared by the workflow tests that only read its
    outputs or dry-run against it (a dry run writes only config.yaml and .snakemake/).
    A test that must change its files copies it first: shutil.copytree(symlinks=True,
    copy_function=shutil.copy2), keeping the mtimes Snakemake judges staleness by."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    run_snakemake(workdir, TINY_CONFIG)
    return workdir, TINY_CONFIG
