"""Shared by the bench scripts: the project's paths, load averages, data preparation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from snakemake_cli import BIN, REPO, SNAKEMAKE, snakemake_command, snakemake_env

__all__ = ["BIN", "REPO", "SNAKEMAKE", "load_average", "snakemake_command", "snakemake_env"]


def load_average() -> str:
    """Printed next to every figure: timings on a busy machine are not comparable."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def run_snakemake(workdir: Path, config: dict, cores: int, *targets: str) -> None:
    """Run the project's workflow in ``workdir`` with ``config`` (written beside it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    command = snakemake_command(
        workdir, configfile, *targets, cores=cores, options=("--quiet", "rules")
    )
    result = subprocess.run(
        command, cwd=workdir, env=snakemake_env(), capture_output=True, text=True
    )
    if result.returncode:
        sys.exit(
            f"snakemake failed in {workdir}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def data_config(root: str, sizes: list[int], folds: int, seed: int = 42) -> dict:
    """A workflow config for ``root`` with the paper's model1 and generator 1 (for the data
    stages only: ingest, split and resize do not depend on the grid)."""
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    return {
        "datasets": {"bench": {"root": str(Path(root).resolve())}},
        "seed": seed,
        "split": {**paper["split"], "folds": folds},
        "resize": {"sizes": sorted(sizes)},
        "generators": {"g1": paper["generators"]["g1"]},
        "architectures": {"model1": paper["architectures"]["model1"]},
        "training": paper["training"],
    }


def prepare_arrays(root: str, sizes: list[int], folds: int, workdir: Path, cores: int = 2) -> Path:
    """Ingest, split and resize ``root`` with the workflow; return results/bench."""
    targets = [f"results/bench/arrays/{size}.npy" for size in sizes] + ["results/bench/splits.csv"]
    run_snakemake(workdir, data_config(root, sizes, folds), cores, *targets)
    return workdir / "results" / "bench"
