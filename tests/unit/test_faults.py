"""Faults without Snakemake: interrupted writes, tampered intermediate files, failed cells.

Killed jobs and jobs out of memory in real Snakemake runs: tests/workflow/test_faults_run.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

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
    with pytest.raises(SplitError, match=message + ".*delete it and run `make repair`"):
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
