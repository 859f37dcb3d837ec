"""How long Snakemake takes to plan the paper's grid and to find nothing to do in the demo.

Prints, for each case, the wall time and the number of jobs:

* dry run of config/paper.yaml (5 sizes x 5 folds x 4 generators x 2 architectures) in an
  empty working directory: every job is planned (target: under 15 s);
* dry run of a synthetic grid of ~2,000 training jobs (the paper's grid with 20
  architectures), standing in for the paper's CV grid plus a 19 x 19 x 5 reduction grid
  until the reduction stage exists;
* no-op rerun of the demo (`snakemake --cores 2` after a complete `make demo`; target:
  under 5 s). The demo is run first into the working directory when it is not complete.

Usage: python bench/dag_scale.py [--demo-dir DIR]   (default: a fresh temporary folder)
"""

from __future__ import annotations

import argparse
import copy
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from snakemake_cli import REPO, snakemake_command


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake(workdir: Path, configfile: Path, *extra: str) -> tuple[str, str]:
    """ "wall s (CPU s)" and output of one snakemake call (the workflow profile applies).

    CPU seconds are given because wall time on a shared machine mostly measures the load.
    """
    command = snakemake_command(workdir, configfile, options=extra)
    started, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    seconds = f"{time.perf_counter() - started:6.1f} s wall ({_children_cpu() - cpu:5.1f} s CPU)"
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def job_count(output: str) -> int:
    """Total of the dry run's job stats table (0 when there is nothing to do)."""
    match = re.search(r"^total\s+(\d+)\s*$", output, re.MULTILINE)
    return int(match.group(1)) if match else 0


def dry_run(name: str, config: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        configfile = workdir / "config.yaml"
        configfile.write_text(yaml.safe_dump(config, sort_keys=False))
        seconds, output = snakemake(workdir, configfile, "-n", "--quiet", "rules")
        print(f"{name:<42} {seconds}  {job_count(output):5d} jobs", flush=True)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--demo-dir", type=Path, help="working directory of a demo run")
    args = arguments.parse_args()

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    dry_run("dry run, config/paper.yaml", paper)
    synthetic = copy.deepcopy(paper)
    base = paper["architectures"]["model1"]
    for index in range(18):  # 20 architectures: 5 x 5 x 4 x 20 = 2,000 training jobs
        variant = copy.deepcopy(base)
        variant["layers"][0]["filters"] = 2 + index
        synthetic["architectures"][f"r{index}"] = variant
    dry_run("dry run, paper grid with 20 architectures", synthetic)

    demo_dir = args.demo_dir or Path(tempfile.mkdtemp(prefix="mobileclf-demo-"))
    demo_dir.mkdir(parents=True, exist_ok=True)
    configfile = REPO / "config" / "config.yaml"
    _, output = snakemake(demo_dir, configfile, "-n", "--quiet", "rules")
    if job_count(output):
        seconds, _ = snakemake(demo_dir, configfile)
        print(f"{'demo run (first, complete)':<42} {seconds}", flush=True)
    seconds, output = snakemake(demo_dir, configfile)
    assert "Nothing to be done" in output, output[-2000:]
    print(f"{'no-op rerun of the demo':<42} {seconds}  (in {demo_dir})")


if __name__ == "__main__":
    main()
