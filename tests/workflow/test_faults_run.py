"""Faults end to end: a killed training job, jobs out of memory (one-fold and all-folds).

The tests share one uninterrupted reference run of a tiny grid; the interrupted and failing
runs must end with the same losses and accuracies, exactly (same seeds, one thread per job,
so TensorFlow on the CPU repeats itself bit for bit). Every run targets selection.json: the
tests assert nothing past it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from conftest import TINY_CONFIG, planned_jobs, run_snakemake, snakemake_command, write_config

FAULT_CONFIG = {
    **TINY_CONFIG,
    "resize": {"sizes": [16, 24]},
    "generators": {"g1": TINY_CONFIG["generators"]["g1"]},
    "training": {**TINY_CONFIG["training"], "epochs": 15},
}


# every run targets the selection: nothing past it is asserted here
TARGET = "results/tiny/selection.json"
# the numbers a repeated run must reproduce exactly (loss as well: accuracy moves in steps
# of 0.1 on these ~10 test images and could hide a different training)
RESULT_COLUMNS = [
    "arch",
    "generator",
    "size",
    "fold",
    "status",
    "accuracy",
    "loss",
    "n_test",
    "epochs_run",
]


def assert_same_results(runs: pd.DataFrame, reference: pd.DataFrame) -> None:
    """The same rows with bit-identical accuracies and losses (as the SLURM test demands)."""
    pd.testing.assert_frame_equal(runs[RESULT_COLUMNS], reference[RESULT_COLUMNS], check_exact=True)


def train_jobs(workdir: Path, config: dict) -> list[tuple[str, str]]:
    """(size, fold) of the planned one-fold jobs; (size, "all") of all-folds jobs."""
    return sorted(
        (w["size"], w.get("fold", "all"))
        for rule, w in planned_jobs(workdir, config, TARGET)
        if rule in ("train_cv", "train_cv_folds")
    )


def cv_runs(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / "results" / "tiny" / "tables" / "cv_runs.csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """cv_runs.csv of an uninterrupted run of FAULT_CONFIG."""
    workdir = tmp_path_factory.mktemp("reference")
    run_snakemake(workdir, FAULT_CONFIG, TARGET)
    return cv_runs(workdir)


def training_process(snakemake: subprocess.Popen, log: Path) -> psutil.Process | None:
    """The python process of the train_cv job that writes ``log`` (a child of our Snakemake):
    the job's stdout and stderr are redirected to its log file (mobileclf.cli.run)."""
    for child in psutil.Process(snakemake.pid).children(recursive=True):
        try:
            command = child.cmdline()
            files = {Path(f.path).resolve() for f in child.open_files()}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(part.endswith("train_cv.py") for part in command) and log.resolve() in files:
            return child
    return None


@pytest.mark.slow
def test_kill_9_of_a_training_job_reruns_only_that_job(tmp_path, reference):
    configfile = write_config(tmp_path, FAULT_CONFIG)
    command = snakemake_command(tmp_path, configfile, TARGET, options=["--keep-going"])
    snakemake = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path
    )
    victim, victim_log, deadline = None, None, time.monotonic() + 300
    while victim is None and time.monotonic() < deadline and snakemake.poll() is None:
        for log in sorted((tmp_path / "logs" / "train_cv").rglob("fold*.log")):
            if "Epoch 2/" in log.read_text(errors="replace"):
                victim, victim_log = training_process(snakemake, log), log
                if victim is not None:
                    break
        time.sleep(0.05)
    assert victim is not None, "no training job was seen mid-training"
    victim.send_signal(signal.SIGKILL)  # kill -9 of exactly that job's python process
    output, _ = snakemake.communicate(timeout=600)
    assert snakemake.returncode != 0
    assert "Error in rule train_cv" in output
    size, fold = victim_log.parent.name, victim_log.stem.removeprefix("fold")
    killed = (
        tmp_path / "results" / "tiny" / "cv" / "tiny" / "g1" / size / f"fold{fold}" / "metrics.json"
    )
    assert not killed.exists()
    assert len(list((tmp_path / "results" / "tiny" / "cv").rglob("metrics.json"))) == 3
    # the next run redoes exactly the killed job (Snakemake removed its outputs on failure)
    assert train_jobs(tmp_path, FAULT_CONFIG) == [(size, fold)]
    run_snakemake(tmp_path, FAULT_CONFIG, TARGET)
    assert_same_results(cv_runs(tmp_path), reference)


FAIL_HOOK = """
# Injected by tests/workflow/test_faults_run.py: the train_cv job for size {size}, fold {fold}
# runs out of memory, deterministically, as a too large image size would on a small machine.
import importlib.abc, importlib.util, sys

class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "mobileclf.train.fit":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            real = module.prepare_fit

            # where a training allocates its fold's data and model: fit_and_evaluate (one
            # fold at a time) and the all-folds job's towers (mobileclf.train.towers) alike
            def prepare_fit(images, *args, **kwargs):
                # the fold from its seed (config seed + fold): one-fold and all-folds jobs alike
                seed = args[6] if len(args) > 6 else kwargs["seed"]
                if images.shape[1] == {size} and seed - {seed} == {fold}:
                    raise MemoryError("injected: cannot allocate the {size}px batch")
                return real(images, *args, **kwargs)

            module.prepare_fit = prepare_fit

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Hook())
"""


@pytest.mark.slow
def test_job_out_of_memory_is_marked_in_the_tables_and_retried_next_run(
    tmp_path, reference, monkeypatch
):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        textwrap.dedent(FAIL_HOOK.format(size=24, fold=1, seed=FAULT_CONFIG["seed"]))
    )
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    # the run completes: the failure is recorded
    result = run_snakemake(tmp_path, FAULT_CONFIG, TARGET)
    runs = cv_runs(tmp_path)
    failed = runs[runs.status != "ok"]
    assert failed[["size", "fold", "status"]].values.tolist() == [[24, 1, "failed"]]
    assert failed.error.iloc[0] == "MemoryError: injected: cannot allocate the 24px batch"
    summary = pd.read_csv(tmp_path / "results" / "tiny" / "tables" / "cv_summary.csv").set_index(
        "size"
    )
    assert summary.loc[24, "n_folds"] == 1 and not summary.loc[24, "complete"]
    assert summary.loc[24, "accuracy_text"].endswith("[1/2 folds]")
    assert "[1/2 folds]" in (tmp_path / "results" / "tiny" / "tables" / "cv_summary.md").read_text()
    assert json.loads((tmp_path / "results" / "tiny" / "selection.json").read_text())["size"] == 16
    assert "training tiny/g1/24 fold 1 failed: MemoryError" in result.stdout + result.stderr
    # next run (memory available again): exactly the failed job reruns, then nothing
    monkeypatch.delenv("PYTHONPATH")
    assert train_jobs(tmp_path, FAULT_CONFIG) == [("24", "1")]
    run_snakemake(tmp_path, FAULT_CONFIG, TARGET)
    assert_same_results(cv_runs(tmp_path), reference)
    assert train_jobs(tmp_path, FAULT_CONFIG) == []
    # a user's mistake is not recorded as a failure: the config check stops the run with
    # the message before any job, and what was computed stays
    config = {
        **FAULT_CONFIG,
        "datasets": {"tiny": {**FAULT_CONFIG["datasets"]["tiny"], "positive_class": "Lesion"}},
    }
    metrics = tmp_path / "results/tiny/cv/tiny/g1/16/fold0/metrics.json"
    kept = metrics.read_bytes()
    result = run_snakemake(tmp_path, config, str(metrics.relative_to(tmp_path)), check=False)
    assert result.returncode != 0
    message = (
        "datasets.tiny.positive_class: 'Lesion' is not a class folder of the demo data "
        "(classes: lesion, normal); class names are case-sensitive; did you mean 'lesion'?"
    )
    assert message in result.stdout + result.stderr
    assert metrics.read_bytes() == kept
    assert_same_results(cv_runs(tmp_path), reference)


@pytest.mark.slow
def test_out_of_memory_in_an_all_folds_job_fails_only_that_fold(tmp_path, reference, monkeypatch):
    """training.batch_folds_below: one job trains every fold of a size; a fold that runs
    out of memory is recorded on its own, the job's other folds are kept, and the retry
    reproduces the one-fold jobs' numbers (the reference run)."""
    config = {**FAULT_CONFIG, "training": {**FAULT_CONFIG["training"], "batch_folds_below": 30}}
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = FAIL_HOOK.format(size=24, fold=0, seed=FAULT_CONFIG["seed"])
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(hook))
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    assert train_jobs(tmp_path, config) == [("16", "all"), ("24", "all")]
    run_snakemake(tmp_path, config, TARGET)
    runs = cv_runs(tmp_path).set_index(["size", "fold"])
    assert runs.status.to_dict() == {
        (16, 0): "ok",
        (16, 1): "ok",
        (24, 0): "failed",
        (24, 1): "ok",  # trained after the failed fold, in the same process
    }
    monkeypatch.delenv("PYTHONPATH")
    assert train_jobs(tmp_path, config) == [("24", "all")]
    run_snakemake(tmp_path, config, TARGET)
    assert_same_results(cv_runs(tmp_path), reference)
    assert train_jobs(tmp_path, config) == []
