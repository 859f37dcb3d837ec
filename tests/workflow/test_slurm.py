"""Cluster submission for real: a one-node SLURM on localhost (../shared/slurm), the tiny
config through `--profile profiles/slurm`, every job through sbatch, results equal to a
local run's, and a failing job that fails the run with its log shown.

Where it runs: wherever ../shared/slurm/start-local-slurm.sh sits beside the repository
and the tests run as root with apt-get (the start script apt-installs slurm-wlm and munge):
the project's machine, and `.ci/run` on a clone placed there. Anywhere else (a clean clone
without ../shared) it is skipped, and the skip line says which of the three is missing.
The daemons are stopped at the end whatever happens.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TINY_CONFIG, planned_jobs, run_snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SLURM_SCRIPTS = REPO.parent / "shared" / "slurm"
# The shared README's settings for a cluster without accounting (no sacct), fast polling.
SLURM_ARGS = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--default-resources",
    "slurm_account=mobileclf",
    "slurm_partition=debug",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
)
# The training grid and its summary (the export stage after it is not needed here).
TARGET = "results/tiny/selection.json"
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def _why_no_slurm() -> str | None:
    if not (SLURM_SCRIPTS / "start-local-slurm.sh").exists():
        return (
            f"no {SLURM_SCRIPTS / 'start-local-slurm.sh'}: the one-node SLURM scripts live "
            "beside the repository in ../shared/slurm (on the project's machine), not in it"
        )
    if os.geteuid() != 0:
        return "starting the local SLURM needs root (apt-get install slurm-wlm munge, daemons)"
    if shutil.which("apt-get") is None:
        return "starting the local SLURM needs apt-get (Debian/Ubuntu) to install slurm-wlm"
    return None


def _cluster_up() -> bool:
    return shutil.which("scontrol") is not None and (
        subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout.count("UP") > 0
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running one-node SLURM (partition debug); stopped afterwards if started here."""
    reason = _why_no_slurm()
    if reason:
        print(f"SKIP test_slurm: {reason}")
        pytest.skip(reason)
    started = not _cluster_up()
    try:
        if started:
            subprocess.run(
                ["bash", str(SLURM_SCRIPTS / "start-local-slurm.sh")],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
        assert _cluster_up(), "slurmctld does not answer after start-local-slurm.sh"
        yield
    finally:
        if started:
            subprocess.run(["bash", str(SLURM_SCRIPTS / "stop-local-slurm.sh")], check=False)


def _config() -> dict:
    """The tiny test config at one image size: 4 training jobs, 1 thread each (< 100 px),
    so TensorFlow's multi-threaded reductions cannot make the two runs differ."""
    config = copy.deepcopy(TINY_CONFIG)
    config["resize"]["sizes"] = [16]
    return config


def _jobs_in_log(text: str) -> set[tuple[str, tuple]]:
    """(rule, wildcards) of every job a Snakemake log (or a SLURM job's log) ran."""
    jobs, rule = set(), None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ", "checkpoint ")) and stripped.endswith(":"):
            rule = stripped.split()[1].rstrip(":")
            jobs.add((rule, ()))
        elif stripped.startswith("wildcards:") and rule:
            jobs.discard((rule, ()))
            pairs = sorted(p.strip() for p in stripped.removeprefix("wildcards:").split(","))
            jobs.add((rule, tuple(pairs)))
            rule = None
    return jobs


def _scontrol(job_id: str) -> dict[str, str]:
    text = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout
    return dict(re.findall(r"(\w+)=(\S*)", text))


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local")
    run_snakemake(workdir, _config(), TARGET)
    return workdir


def test_grid_runs_through_sbatch_and_equals_a_local_run(
    slurm_cluster, local_run, tmp_path, capsys
):
    config = _config()
    expected = {
        (rule, tuple(sorted(f"{k}={v}" for k, v in wildcards.items())))
        for rule, wildcards in planned_jobs(tmp_path, config, TARGET)
    }
    result = run_snakemake(
        tmp_path, config, TARGET, *SLURM_ARGS, "--slurm-keep-successful-logs", timeout=1800
    )
    output = result.stdout + result.stderr
    submissions = SUBMITTED.findall(output)
    with capsys.disabled():
        print(f"\n{len(expected)} jobs in {len(submissions)} SLURM submissions")
    # every job ran inside a SLURM allocation: its rule and wildcards are in a kept SLURM
    # job log, and SLURM's own record of that job says it completed
    ran_in_slurm: set = set()
    for job_id, log in submissions:
        record = _scontrol(job_id)
        assert record["JobState"] == "COMPLETED", record
        assert record["Partition"] == "debug"
        ran_in_slurm |= _jobs_in_log(Path(log).read_text())
    assert expected <= ran_in_slurm
    assert "localrule" not in output  # nothing ran on the submit host
    # the short jobs were grouped: demo+ingest+split+resize in one, aggregate+select in one
    assert len(submissions) == 1 + 4 + 1
    # identical results: same splits, same accuracies and losses, job by job
    cluster, local = tmp_path / "results" / "tiny", local_run / "results" / "tiny"
    assert (cluster / "splits.csv").read_bytes() == (local / "splits.csv").read_bytes()
    keys = ["arch", "generator", "size", "fold"]
    runs = pd.read_csv(cluster / "tables" / "cv_runs.csv").sort_values(keys)
    reference = pd.read_csv(local / "tables" / "cv_runs.csv").sort_values(keys)
    assert len(runs) == 4
    pd.testing.assert_frame_equal(
        runs[[*keys, "accuracy", "loss"]].reset_index(drop=True),
        reference[[*keys, "accuracy", "loss"]].reset_index(drop=True),
        check_exact=True,
    )
    # gpu resource 0 (training.gpu false): the jobs said they hid any GPU on purpose
    for log in (local_run / "logs" / "train_cv").rglob("*.log"):
        assert "GPUs hidden: the job was scheduled without one" in log.read_text()
    # nothing left to do afterwards, locally or on the cluster
    assert planned_jobs(tmp_path, config, TARGET) == []


def test_failing_job_fails_the_run_and_shows_its_log(slurm_cluster, tmp_path):
    config = _config()
    config["datasets"] = {"broken": {"root": str(tmp_path / "no_such_folder")}}
    result = run_snakemake(
        tmp_path, config, *SLURM_ARGS, "--retries", "1", check=False, timeout=900
    )  # fails in the first job (ingest), before any target matters
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # the ingest job's own log, with its clear message, is printed by the run
    assert "Logfile logs/ingest/broken.log" in output
    assert f"{tmp_path / 'no_such_folder'} does not exist" in output
    # it failed on SLURM twice (--retries 1), the retry asking for twice the memory
    submissions = SUBMITTED.findall(output)
    assert len(submissions) == 2
    records = [_scontrol(job_id) for job_id, _ in submissions]
    assert [r["JobState"] for r in records] == ["FAILED", "FAILED"]
    memory = [int(r["MinMemoryNode"].rstrip("M")) for r in records]
    assert memory[1] == 2 * memory[0]
    assert all(Path(log).exists() for _, log in submissions)  # failed jobs keep SLURM logs
