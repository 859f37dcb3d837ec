"""Cluster submission for real: a one-node SLURM on localhost (../shared/slurm), the whole
tiny config through `--profile profiles/slurm` with the snakemake of .venv-slurm (`make
install-slurm`), every job through sbatch in 9 submissions (short stages grouped), results
equal to a local run's; a job cancelled while it runs heals through the profile's retries;
a refused submission keeps the previous outputs; a failing job fails the run with its log.

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
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TINY_CONFIG, planned_jobs, write_config
from snakemake_cli import snakemake_command

pytestmark = [pytest.mark.slow, pytest.mark.slurm]

SLURM_SCRIPTS = REPO.parent / "shared" / "slurm"
SLURM_SNAKEMAKE = REPO / ".venv-slurm" / "bin" / "snakemake"
# The shared README's settings for a cluster without accounting (no sacct), fast polling;
# no account: without accounting the plugin could not validate one (profile comment).
SLURM_ARGS = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--default-resources",
    "slurm_partition=debug",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
)
# The training grid and its summary: the fault test's target.
TARGET = "results/tiny/selection.json"
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")
# Short stages that run as one submission each (profiles/slurm/config.yaml `groups`).
GROUPS = {
    "prep": {"make_demo", "ingest", "split", "resize", "check_data", "phone_inputs"},
    "summary": {"aggregate_cv", "select_config"},
    "export": {"convert", "add_metadata", "verify_export"},
    "mobile": {
        "mobile_reference_inputs",
        "mobile_camera_inputs",
        "mobile_predict",
        "mobile_tables",
        "mobile_latency",
        "phone_check",
        "phone_measured",
    },
}


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
    if not SLURM_SNAKEMAKE.exists():  # the plugin's own venv, as a user makes it
        subprocess.run(["make", "-C", str(REPO), "install-slurm"], check=True, timeout=900)
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
    """The tiny test config at one image size, all folds of a cell in one job as the demo
    does (batch_folds_below): 2 training jobs, 1 thread each (< 100 px), so TensorFlow's
    multi-threaded reductions cannot make the two runs differ."""
    config = copy.deepcopy(TINY_CONFIG)
    config["resize"]["sizes"] = [16]
    config["training"]["batch_folds_below"] = 20
    # two of the four variants: the grouping and the jobs' records are what is tested here
    # (every variant's export: test_export_run), and each job of a group runs in turn
    config["export"] = {**config.get("export", {}), "variants": ["float32", "int8"]}
    return config


def _slurm_command(workdir: Path, config: dict, *extra: str) -> list[str]:
    """A run of the SLURM profile with the snakemake of .venv-slurm."""
    command = snakemake_command(workdir, write_config(workdir, config), options=extra)
    return [str(SLURM_SNAKEMAKE), *command[1:]]


def _run_slurm(workdir: Path, config: dict, *extra: str, timeout: float = 1800):
    command = _slurm_command(workdir, config, *extra, *SLURM_ARGS)
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=timeout)


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


def _submitted_sections(output: str) -> dict[str, str]:
    """SLURM job id -> the part of the run's output that printed the jobs of that submission."""
    sections, start = {}, 0
    for match in SUBMITTED.finditer(output):
        sections[match.group(1)] = output[start : match.start()]
        start = match.end()
    return sections


def _minutes(limit: str) -> int:
    """scontrol's TimeLimit ([days-]hh:mm:ss) in minutes."""
    days, _, clock = limit.rpartition("-")
    hours, minutes, _ = (int(part) for part in clock.split(":"))
    return (int(days or 0) * 24 + hours) * 60 + minutes


@pytest.fixture(scope="module")
def local_run_started(tmp_path_factory):
    """The local run the cluster's results are compared with, started at once so that it
    runs beside the cluster run (whose jobs mostly wait for submission and start-up), not
    after it: (workdir, process, its log)."""
    workdir = tmp_path_factory.mktemp("local")
    command = snakemake_command(workdir, write_config(workdir, _config()), options=(TARGET,))
    log = workdir / "snakemake.out"
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    yield workdir, process, log
    if process.poll() is None:  # a test failed before waiting for it
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def local_run(local_run_started):
    workdir, process, log = local_run_started
    assert process.wait(timeout=1800) == 0, log.read_text()[-6000:]
    return workdir


def _records_while(process: subprocess.Popen) -> dict[str, dict[str, str]]:
    """SLURM's record of every job seen while ``process`` runs, in its last state: slurmctld
    forgets finished jobs after MinJobAge (300 s), shorter than a run on a loaded machine."""
    records: dict[str, dict[str, str]] = {}
    while True:
        done = process.poll() is not None
        text = subprocess.run(
            ["scontrol", "-o", "show", "job"], capture_output=True, text=True
        ).stdout
        for line in text.splitlines():
            record = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in record:
                records[record["JobId"]] = record
        if done:
            return records
        time.sleep(2)


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, local_run_started, tmp_path_factory):
    """The whole tiny workflow through the SLURM profile: (workdir, output, planned jobs,
    SLURM's record of each job)."""
    workdir = tmp_path_factory.mktemp("cluster")
    expected = {
        (rule, tuple(sorted(f"{k}={v}" for k, v in wildcards.items())))
        for rule, wildcards in planned_jobs(workdir, _config())
        if rule != "all"
    }
    command = _slurm_command(workdir, _config(), "--slurm-keep-successful-logs", *SLURM_ARGS)
    process = subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output_holder: list[str] = []
    reader = threading.Thread(target=lambda: output_holder.append(process.stdout.read()))
    reader.start()
    records = _records_while(process)
    reader.join()
    output = output_holder[0]
    assert process.wait() == 0, output[-6000:]
    return workdir, output, expected, records


def test_grid_runs_through_sbatch_and_equals_a_local_run(cluster_run, local_run, capsys):
    workdir, output, expected, records = cluster_run
    submissions = SUBMITTED.findall(output)
    with capsys.disabled():
        print(f"\n{len(expected)} jobs in {len(submissions)} SLURM submissions")
    # every job ran inside a SLURM allocation: its rule and wildcards are in a kept SLURM
    # job log, and SLURM's own record of that job says it completed
    ran_in_slurm: set = set()
    per_submission: dict[str, set] = {}
    for job_id, log in submissions:
        record = records[job_id]
        assert record["JobState"] == "COMPLETED", record
        assert record["Partition"] == "debug"
        per_submission[job_id] = _jobs_in_log(Path(log).read_text())
        ran_in_slurm |= per_submission[job_id]
    assert expected <= ran_in_slurm
    assert "localrule" not in output.replace("localrule all:", "")  # nothing on the host
    # short stages grouped: each group's jobs in one submission, at most half of the 18
    # submissions of the ungrouped mobile/report stages (issue 18)
    for group, rules in GROUPS.items():
        holders = {j for j, jobs in per_submission.items() if {r for r, _ in jobs} & rules}
        assert len(holders) == 1, (group, holders)
        assert {r for r, _ in per_submission[holders.pop()]} == rules, group
    assert len(submissions) <= 9
    # a group asks for the wall time of what it runs, added up, not a fixed worst case
    sections = _submitted_sections(output)
    for job_id, _ in submissions:
        runtimes = [int(m) for m in re.findall(r"runtime=(\d+)", sections[job_id])]
        if not runtimes:  # printed with the submission before it
            continue
        limit = _minutes(records[job_id]["TimeLimit"])
        assert max(runtimes) <= limit <= sum(runtimes), (job_id, runtimes, limit)
    # the account is not validated per submission where there is no accounting
    assert "Proceeding without account validation" not in output
    assert output.count("Unable to guess SLURM account") <= 1
    # identical results: same splits, same accuracies and losses, job by job
    cluster, local = workdir / "results" / "tiny", local_run / "results" / "tiny"
    assert (cluster / "splits.csv").read_bytes() == (local / "splits.csv").read_bytes()
    _assert_same_cv_runs(cluster, local)
    assert (cluster / "report.html").exists()
    # gpu resource 0 (training.gpu false): the jobs said they hid any GPU on purpose
    logs = list((workdir / "logs" / "train_cv_folds").rglob("*.log"))
    assert logs and all("GPUs hidden" in log.read_text() for log in logs)
    # nothing left to do afterwards, locally or on the cluster
    assert planned_jobs(workdir, _config()) == []


def _assert_same_cv_runs(cluster: Path, local: Path) -> None:
    keys = ["arch", "generator", "size", "fold"]
    runs = pd.read_csv(cluster / "tables" / "cv_runs.csv").sort_values(keys)
    reference = pd.read_csv(local / "tables" / "cv_runs.csv").sort_values(keys)
    assert len(runs) == 4
    pd.testing.assert_frame_equal(
        runs[[*keys, "accuracy", "loss"]].reset_index(drop=True),
        reference[[*keys, "accuracy", "loss"]].reset_index(drop=True),
        check_exact=True,
    )


def test_refused_submission_keeps_the_previous_outputs(cluster_run, tmp_path):
    """sbatch refuses the report (no such partition): the report of the finished run stays,
    byte for byte, and its old log is not shown as this job's."""
    source = cluster_run[0]
    workdir = tmp_path / "run"
    shutil.copytree(source, workdir, symlinks=True)
    report = workdir / "results" / "tiny" / "report.html"
    before = (report.read_bytes(), report.stat().st_mtime_ns)
    (workdir / "logs" / "report" / "tiny.log").write_text("OLD LOG LINE of the earlier run\n")
    result = _run_slurm(
        workdir,
        _config(),
        "--forcerun",
        "report",
        "--set-resources",
        "report:slurm_partition=no_such_partition",
        "--retries",
        "0",
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SLURM sbatch failed" in output
    assert (report.read_bytes(), report.stat().st_mtime_ns) == before
    assert (workdir / "results" / "tiny" / "report.md").exists()
    assert "The job did not start" in output
    assert "OLD LOG LINE" not in output
    assert planned_jobs(workdir, _config()) == []  # the kept report is still up to date


def test_job_cancelled_while_running_heals_through_retries(slurm_cluster, local_run, tmp_path):
    """scancel of a running training job: SLURM reports it failed, the profile's retries
    resubmit it, and the tables equal a clean local run's."""
    config = _config()
    command = _slurm_command(tmp_path, config, TARGET, *SLURM_ARGS)
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    cancelled, deadline = None, time.monotonic() + 900
    while cancelled is None and process.poll() is None and time.monotonic() < deadline:
        queue = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i %M %k"], capture_output=True, text=True
        ).stdout.split("\n")
        for line in filter(None, queue):
            job_id, elapsed, comment = line.split(maxsplit=2)
            seconds = sum(int(part) * 60**i for i, part in enumerate(elapsed.split(":")[::-1]))
            if "train_cv_folds" in comment and seconds >= 3:  # mid-job
                subprocess.run(["scancel", job_id], check=True)
                cancelled = job_id
                break
        time.sleep(0.5)
    output, _ = process.communicate(timeout=1800)
    assert cancelled is not None, output[-4000:]
    assert process.returncode == 0, output[-6000:]
    assert _scontrol(cancelled)["JobState"] == "CANCELLED"
    assert len(SUBMITTED.findall(output)) == 5  # prep, 2 training jobs + 1 retry, summary
    _assert_same_cv_runs(tmp_path / "results" / "tiny", local_run / "results" / "tiny")


def test_failing_job_fails_the_run_and_shows_its_log(slurm_cluster, tmp_path):
    config = _config()
    config["datasets"] = {"broken": {"root": str(tmp_path / "no_such_folder")}}
    result = _run_slurm(tmp_path, config, "--retries", "1", timeout=900)
    # fails in the first job (ingest), before any target matters
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
