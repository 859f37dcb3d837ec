"""What each job would ask SLURM for, from a dry run (no SLURM needed, runs in CI): with
`training.gpu: true` every training rule (train_cv, train_cv_folds, train_final) goes to
the GPU partition with one GPU, every other rule stays on the profile's default partition.
Where .venv-slurm exists (`make install-slurm`), the same resources are also turned into
the sbatch command line by the SLURM plugin's own code (its submit-string builder).
"""

from __future__ import annotations

import copy
import json
import subprocess

import pytest
from conftest import REPO, TINY_CONFIG, run_snakemake

TRAINING_RULES = {"train_cv", "train_cv_folds", "train_final"}
SLURM_PYTHON = REPO / ".venv-slurm" / "bin" / "python"
# The plugin's sbatch line for one job as Executor.run_job builds it (partition by the
# executor's own method, GPUs by its gres helper); only the account is given.
SBATCH_OF = """
import json, sys
from types import SimpleNamespace
from snakemake_executor_plugin_slurm import Executor
from snakemake_executor_plugin_slurm.submit_string import get_submit_command
from snakemake_executor_plugin_slurm.utils import set_gres_string

class Resources(dict):
    __getattr__ = dict.__getitem__

for job in json.load(sys.stdin):
    job = SimpleNamespace(resources=Resources(job["resources"]), threads=job["threads"])
    executor = SimpleNamespace(_partitions=None, _fallback_partition=None)
    params = dict(run_uuid="run", slurm_logfile="log", comment_str="rule", workdir=".",
                  account=" -A acc", partition=Executor.get_partition_arg(executor, job))
    print(get_submit_command(job, params) + set_gres_string(job))
"""


def _dry_run_resources(output: str) -> list[tuple[str, int, dict]]:
    """(rule, threads, resources) of every job of a dry run's output."""
    jobs: list[tuple[str, int, dict]] = []
    for line in output.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ", "checkpoint ")) and stripped.endswith(":"):
            jobs.append((stripped.split()[1].rstrip(":"), 1, {}))
        elif stripped.startswith("threads:") and jobs:
            jobs[-1] = (jobs[-1][0], int(stripped.split(":")[1]), jobs[-1][2])
        elif stripped.startswith("resources:") and jobs:
            pairs = (p.strip().split("=", 1) for p in stripped[len("resources:") :].split(", "))
            jobs[-1][2].update({k: v for k, v in pairs})
    return [job for job in jobs if job[0] != "all"]


@pytest.fixture(scope="module")
def gpu_jobs(tmp_path_factory) -> list[tuple[str, int, dict]]:
    """Every job of the tiny config with training.gpu true: size 16 trains all folds in one
    job (train_cv_folds), size 24 one job per fold (train_cv), plus train_final."""
    config = copy.deepcopy(TINY_CONFIG)
    config["training"].update(gpu=True, batch_folds_below=20)
    workdir = tmp_path_factory.mktemp("gpu_dry_run")
    result = run_snakemake(workdir, config, "-n", "--default-resources", "slurm_partition=cpu")
    return _dry_run_resources(result.stdout + result.stderr)


def test_gpu_switch_sends_every_training_rule_to_the_gpu_partition(gpu_jobs):
    rules = {rule for rule, _, _ in gpu_jobs}
    assert rules >= TRAINING_RULES
    for rule, _, resources in gpu_jobs:
        if rule in TRAINING_RULES:
            assert resources["slurm_partition"] == "gpu", (rule, resources)
            assert resources["gpu"] == "1", (rule, resources)
        else:  # the profile's default partition, no GPU
            assert resources["slurm_partition"] == "cpu", (rule, resources)
            assert resources.get("gpu", "0") == "0", (rule, resources)


def test_sbatch_lines_of_training_rules(gpu_jobs):
    if not SLURM_PYTHON.exists():
        pytest.skip("no .venv-slurm (make install-slurm): the plugin's sbatch builder is absent")
    jobs = [
        {"rule": rule, "threads": threads, "resources": resources}
        for rule, threads, resources in gpu_jobs
    ]
    for job in jobs:  # numbers as the plugin gets them from Snakemake
        job["resources"] = {k: int(v) if v.isdigit() else v for k, v in job["resources"].items()}
    lines = subprocess.run(
        [str(SLURM_PYTHON), "-c", SBATCH_OF],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert len(lines) == len(jobs)
    for job, line in zip(jobs, lines, strict=True):
        args = line.split()
        if job["rule"] in TRAINING_RULES:
            assert args[args.index("-p") + 1] == "gpu", line
            assert "--gpus=1" in args, line
        else:
            assert args[args.index("-p") + 1] == "cpu", line
            assert not any(a.startswith("--gpus") for a in args), line
        assert args[args.index("--mem") + 1] == str(job["resources"]["mem_mb"]), line
        assert args[args.index("-t") + 1] == str(job["resources"]["runtime"]), line
