"""Faults: killed jobs, jobs out of resources, interrupted writes, tampered intermediate files.

The end-to-end tests (slow) share one uninterrupted reference run of a tiny grid; the
interrupted and failing runs must end with the same accuracies (same seeds, one thread
per job, so TensorFlow on the CPU repeats itself exactly).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from conftest import REPO, SNAKEMAKE, TINY_CONFIG, planned_jobs, run_snakemake, write_config

from mobileclf import atomic
from mobileclf.data.datasets import DataMismatch, check_class_count, load, positive_index
from mobileclf.data.split import SplitError, SplitOptions, make_splits
from mobileclf.faults import attempt_of
from mobileclf.select.aggregate import UnreadableMetrics, read_runs, summarise
from mobileclf.select.selection import select_best

# ---------------------------------------------------------------- interrupted writes

WRITER = """
import sys, time
sys.path.insert(0, {scripts!r})
from mobileclf import atomic

def slow_writer(path):
    with open(path, "w") as handle:
        handle.write("arch,accuracy\\n" + "half a row,0.")
        handle.flush()
        print("half written", flush=True)
        time.sleep(60)
        handle.write("99\\n")

atomic.write_with({target!r}, slow_writer)
"""


def test_killed_writer_leaves_the_old_file_not_a_half_written_one(tmp_path):
    target = tmp_path / "tables" / "cv_summary.csv"
    atomic.write_text(target, "arch,accuracy\nold,0.5\n")
    code = WRITER.format(scripts=str(REPO / "scripts"), target=str(target))
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "half written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert target.read_text() == "arch,accuracy\nold,0.5\n"
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].endswith(".part") and leftovers[0].startswith(".")
    # a new target that was never complete does not exist at all
    fresh = tmp_path / "tables" / "new.csv"
    code = WRITER.format(scripts=str(REPO / "scripts"), target=str(fresh))
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "half written"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    assert not fresh.exists()


def test_failing_writer_removes_its_temporary(tmp_path):
    def broken(path):
        path.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.write_with(tmp_path / "model.bin", broken)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_metrics_file_is_refused_by_name(tmp_path):
    good = tmp_path / "ok.json"
    good.write_text(
        json.dumps(dict(arch="a", generator="g", size=16, fold=0, status="ok", accuracy=1))
    )
    bad = tmp_path / "fold1" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text('{"arch": "a", "accur')
    with pytest.raises(
        UnreadableMetrics, match=r"fold1/metrics.json is not a complete metrics file.*delete it"
    ):
        read_runs([good, bad])


# ---------------------------------------------------------------- tampered inputs


@pytest.fixture
def job_inputs(tmp_path):
    """manifest.csv, splits.csv, labels.txt and a resized array as the workflow writes them."""
    rows = [
        dict(path=f"{label}/{i}.png", label=label, group="", status="ok", reason="")
        for label in ("covid", "normal")
        for i in range(10)
    ]
    manifest = pd.DataFrame(rows)
    splits = make_splits(manifest, SplitOptions(folds=3, holdout_fraction=0.2, val_fraction=0.1))
    paths = dict(
        manifest=tmp_path / "manifest.csv",
        splits=tmp_path / "splits.csv",
        labels=tmp_path / "labels.txt",
        images=tmp_path / "16.npy",
    )
    manifest.to_csv(paths["manifest"], index=False)
    splits.to_csv(paths["splits"], index=False)
    paths["labels"].write_text("covid\nnormal\n")
    np.save(paths["images"], np.zeros((20, 16, 16, 3), np.uint8))
    return paths


def load_all(paths):
    return load(paths["images"], paths["splits"], paths["labels"], paths["manifest"])


def tamper(paths, change):
    splits = pd.read_csv(paths["splits"], dtype=str, keep_default_na=False)
    change(splits)
    splits.to_csv(paths["splits"], index=False)


def test_untampered_inputs_load(job_inputs):
    data = load_all(job_inputs)
    assert data.labels == ["covid", "normal"] and data.y.tolist() == [0] * 10 + [1] * 10


def first(splits, column, role):
    return splits.index[splits[column] == role][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s.__setitem__(
                "fold0", s.fold0.where(s.index != first(s, "fold0", "holdout"), "train")
            ),
            "holdout image .* appears in training or selection",
        ),
        (
            lambda s: s.__setitem__(
                "fold1", s.fold1.where(s.index != first(s, "fold1", "test"), "train")
            ),
            "is in the test part of 0 folds",
        ),
        (
            lambda s: s.__setitem__("fold2", s.fold2.replace("val", "validation")),
            "unknown roles \\['validation'\\]",
        ),
        (
            lambda s: s.__setitem__("group", ["patient1"] * len(s)),
            "group 'patient1' appears in two roles",
        ),
    ],
)
def test_tampered_splits_are_refused(job_inputs, change, message):
    tamper(job_inputs, change)
    with pytest.raises(SplitError, match=message + ".*delete it and rerun"):
        load_all(job_inputs)


def test_reordered_or_duplicated_splits_rows_are_refused(job_inputs):
    original = job_inputs["splits"].read_text()
    tamper(job_inputs, lambda s: s.sort_values("path", ascending=False, inplace=True))
    with pytest.raises(DataMismatch, match="same order with the same labels"):
        load_all(job_inputs)
    job_inputs["splits"].write_text(original)
    tamper(job_inputs, lambda s: s.__setitem__("label", s.label.replace({"covid": "normal"})))
    with pytest.raises(
        DataMismatch, match=r"labels.txt has classes \['covid', 'normal'\] but the data has"
    ):
        load_all(job_inputs)
    job_inputs["splits"].write_text(original + original.splitlines()[5] + "\n")
    with pytest.raises(SplitError, match="image listed twice"):
        load_all(job_inputs)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("normal\ncovid\n", "not in sorted order"),
        ("covid\nnormal\nother\n", "but the data has"),
        ("covid\ncovid\nnormal\n", "lists a class twice"),
    ],
)
def test_tampered_labels_txt_is_refused(job_inputs, labels, message):
    job_inputs["labels"].write_text(labels)
    with pytest.raises(DataMismatch, match=message):
        load_all(job_inputs)


def test_array_model_and_config_must_agree_on_classes(job_inputs):
    np.save(job_inputs["images"], np.zeros((19, 16, 16, 3), np.uint8))
    with pytest.raises(DataMismatch, match=r"has 19 images but .* lists 20"):
        load_all(job_inputs)
    with pytest.raises(
        DataMismatch, match=r"the trained model has 3 outputs but labels.txt lists 2"
    ):
        check_class_count(3, ["covid", "normal"], "the trained model")
    with pytest.raises(DataMismatch, match="positive_class 'Covid' is not a class"):
        positive_index(["covid", "normal"], "Covid")
    assert positive_index(["covid", "normal"], "normal") == 1


# ---------------------------------------------------------------- failed cells


def test_failed_folds_mark_their_cell_and_selection_skips_it(tmp_path):
    files = []
    for size, fold, status in [(16, 0, "ok"), (16, 1, "ok"), (24, 0, "ok"), (24, 1, "failed")]:
        data = dict(arch="m", generator="g1", size=size, fold=fold, status=status, attempt=0)
        if status == "ok":
            data.update(
                accuracy=0.9 if size == 24 else 0.7,
                macro_f1=0.5,
                auc=0.5,
                n_params=10,
                train_seconds=1.0,
            )
        else:
            data.update(error="MemoryError: out of memory", attempt=1)
        files.append(tmp_path / f"{size}_{fold}.json")
        files[-1].write_text(json.dumps(data))
    runs = read_runs(files)
    assert runs.loc[runs.status == "failed", "error"].tolist() == ["MemoryError: out of memory"]
    summary = summarise(runs, 2).set_index("size")
    assert not summary.loc[24, "complete"] and summary.loc[24, "n_failed"] == 1
    assert summary.loc[24, "accuracy_text"].endswith("[1/2 folds]")
    assert select_best(summary.reset_index())["size"] == 16  # 24 scores higher but is incomplete
    assert attempt_of(files[-1]) == 1 and attempt_of(tmp_path / "absent.json") == 0


# ---------------------------------------------------------------- end to end

FAULT_CONFIG = {
    **TINY_CONFIG,
    "resize": {"sizes": [16, 24]},
    "generators": {"g1": TINY_CONFIG["generators"]["g1"]},
    "training": {**TINY_CONFIG["training"], "epochs": 15},
}
ACCURACY_COLUMNS = [
    "arch",
    "generator",
    "size",
    "fold",
    "status",
    "accuracy",
    "n_test",
    "epochs_run",
]


def train_jobs(workdir: Path, config: dict) -> list[tuple[str, str]]:
    """(size, fold) of the planned one-fold jobs; (size, "all") of all-folds jobs."""
    return sorted(
        (w["size"], w.get("fold", "all"))
        for rule, w in planned_jobs(workdir, config)
        if rule in ("train_cv", "train_cv_folds")
    )


def cv_runs(workdir: Path) -> pd.DataFrame:
    return pd.read_csv(workdir / "results" / "tiny" / "tables" / "cv_runs.csv")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """cv_runs.csv of an uninterrupted run of FAULT_CONFIG."""
    workdir = tmp_path_factory.mktemp("reference")
    run_snakemake(workdir, FAULT_CONFIG)
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
    command = [
        SNAKEMAKE,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tmp_path),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        "--keep-going",
    ]
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
    run_snakemake(tmp_path, FAULT_CONFIG)
    pd.testing.assert_frame_equal(cv_runs(tmp_path)[ACCURACY_COLUMNS], reference[ACCURACY_COLUMNS])


FAIL_HOOK = """
# Injected by tests/test_faults.py: the train_cv job for size {size}, fold {fold} runs out of
# memory, deterministically, as a too large image size would on a small machine.
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
            real = module.fit_and_evaluate

            def fit_and_evaluate(images, *args, **kwargs):
                # the fold from its seed (config seed + fold): one-fold and all-folds jobs alike
                seed = args[6] if len(args) > 6 else kwargs["seed"]
                if images.shape[1] == {size} and seed - {seed} == {fold}:
                    raise MemoryError("injected: cannot allocate the {size}px batch")
                return real(images, *args, **kwargs)

            module.fit_and_evaluate = fit_and_evaluate

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
    result = run_snakemake(tmp_path, FAULT_CONFIG)  # the run completes: the failure is recorded
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
    run_snakemake(tmp_path, FAULT_CONFIG)
    pd.testing.assert_frame_equal(cv_runs(tmp_path)[ACCURACY_COLUMNS], reference[ACCURACY_COLUMNS])
    assert train_jobs(tmp_path, FAULT_CONFIG) == []
    # a user's mistake is not recorded as a failure: the job stops the run with the message
    config = {
        **FAULT_CONFIG,
        "datasets": {"tiny": {**FAULT_CONFIG["datasets"]["tiny"], "positive_class": "Lesion"}},
    }
    target = "results/tiny/cv/tiny/g1/16/fold0/metrics.json"
    result = run_snakemake(tmp_path, config, target, check=False)
    assert result.returncode != 0
    assert (
        "positive_class 'Lesion' is not a class of this dataset (lesion, normal)"
        in result.stdout + result.stderr
    )


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
    run_snakemake(tmp_path, config)
    runs = cv_runs(tmp_path).set_index(["size", "fold"])
    assert runs.status.to_dict() == {
        (16, 0): "ok",
        (16, 1): "ok",
        (24, 0): "failed",
        (24, 1): "ok",  # trained after the failed fold, in the same process
    }
    monkeypatch.delenv("PYTHONPATH")
    assert train_jobs(tmp_path, config) == [("24", "all")]
    run_snakemake(tmp_path, config)
    pd.testing.assert_frame_equal(cv_runs(tmp_path)[ACCURACY_COLUMNS], reference[ACCURACY_COLUMNS])
    assert train_jobs(tmp_path, config) == []
