"""End-to-end Snakemake run of the tiny config, the rerun contract and config validation.

The finished run is the session's (conftest.finished_run): one real run of the whole
pipeline that these tests read and dry-run against, never change.
"""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DOWNSTREAM_OF_SELECTION, planned_jobs, run_snakemake
from matplotlib import colormaps
from PIL import Image

pytestmark = pytest.mark.slow


def test_tables_have_a_row_per_job_and_k_folds_per_cell(finished_run):
    workdir, config = finished_run
    results = workdir / "results" / "tiny"
    labels = (results / "labels.txt").read_text().split()
    assert labels == ["lesion", "normal"]
    runs = pd.read_csv(results / "tables" / "cv_runs.csv")
    n_cells = (
        len(config["resize"]["sizes"]) * len(config["generators"]) * len(config["architectures"])
    )
    assert len(runs) == n_cells * config["split"]["folds"]
    assert set(runs["size"]) == set(config["resize"]["sizes"])
    assert runs.accuracy.between(0, 1).all() and (runs.status == "ok").all()
    summary = pd.read_csv(results / "tables" / "cv_summary.csv")
    assert len(summary) == n_cells
    assert (summary.n_folds == config["split"]["folds"]).all()
    for row in summary.itertuples():
        cell = runs[(runs.generator == row.generator) & (runs["size"] == row.size)]
        assert row.mean_accuracy == pytest.approx(cell.accuracy.mean())
    selection = json.loads((results / "selection.json").read_text())
    best = summary.mean_accuracy.max()
    assert selection["mean_accuracy"] == pytest.approx(best)
    # the heatmap: one panel (one architecture), each cell in viridis at its mean accuracy
    with Image.open(results / "plots" / "cv_heatmap.png") as image:
        assert image.size == (540, 456)  # 4.5 x 3.8 in per architecture at 120 dpi
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    for row in summary.itertuples():
        rgb = np.round(np.array(colormaps["viridis"](row.mean_accuracy)[:3]) * 255)
        assert (np.abs(pixels - rgb).max(axis=2) <= 2).sum() > 2000, row
    manifest = pd.read_csv(results / "manifest.csv")
    assert (manifest.status == "ok").sum() == 24
    metrics = json.loads(next(results.glob("cv/*/g1/16/fold0/metrics.json")).read_text())
    assert metrics["n_test"] == sum(metrics["per_class"][c]["support"] for c in labels)
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n_test"]


def test_adding_a_size_schedules_only_that_size(finished_run):
    workdir, config = finished_run
    assert planned_jobs(workdir, config) == []  # nothing to do after a complete run
    bigger = json.loads(json.dumps(config))
    bigger["resize"]["sizes"].append(20)
    jobs = planned_jobs(workdir, bigger)
    trained = [w for rule, w in jobs if rule == "train_cv"]
    assert len(trained) == len(config["generators"]) * config["split"]["folds"]
    assert {w["size"] for w in trained} == {"20"}
    # upstream of the selection only the new size's jobs; a dry run plans the final model
    # and what follows it as well: it cannot know the choice before select_config ran (what
    # a real run does: tests/workflow/test_reruns_run.py)
    assert [w["size"] for rule, w in jobs if rule == "resize"] == ["20"]
    assert [w["size"] for rule, w in jobs if rule == "check_data"] == ["20"]
    assert [w["size"] for rule, w in jobs if rule == "phone_inputs"] == ["20"]
    assert {rule for rule, _ in jobs} - DOWNSTREAM_OF_SELECTION == {
        "resize",
        "check_data",
        "phone_inputs",
        "train_cv",
        "aggregate_cv",
        "select_config",
        "all",
    }
    assert not {rule for rule, _ in jobs} & {"make_demo", "ingest", "split"}


def test_changing_one_generator_reruns_only_its_jobs(finished_run):
    workdir, config = finished_run
    changed = json.loads(json.dumps(config))
    changed["generators"]["g3"]["rotation_range"] = 30
    jobs = planned_jobs(workdir, changed)
    trained = [w for rule, w in jobs if rule == "train_cv"]
    assert {w["generator"] for w in trained} == {"g3"}
    assert len(trained) == len(config["resize"]["sizes"]) * config["split"]["folds"]
    assert "resize" not in {rule for rule, _ in jobs}


def test_all_folds_jobs_give_the_numbers_of_one_fold_jobs(finished_run, tmp_path):
    """batch_folds_below: 20 trains size 16 in one job per arch x generator (all folds),
    size 24 in one job per fold; the tables and histories equal the all-one-fold run's."""
    workdir, config = finished_run
    batched = json.loads(json.dumps(config))
    batched["training"]["batch_folds_below"] = 20
    target = "results/tiny/tables/cv_runs.csv"
    jobs = [(rule, w) for rule, w in planned_jobs(tmp_path, batched, target) if "train" in rule]
    folds = config["split"]["folds"]
    assert sorted((rule, w["size"], w.get("fold")) for rule, w in jobs) == sorted(
        [("train_cv_folds", "16", None)] * len(config["generators"])
        + [("train_cv", "24", str(fold)) for fold in range(folds)] * len(config["generators"])
    )
    run_snakemake(tmp_path, batched, target)
    columns = ["arch", "generator", "size", "fold", "status", "accuracy", "loss", "epochs_run"]
    ours = pd.read_csv(tmp_path / target)[columns]
    pd.testing.assert_frame_equal(ours, pd.read_csv(workdir / target)[columns])
    histories = sorted((workdir / "results" / "tiny" / "cv").rglob("history.csv"))
    assert len(histories) == len(ours) == 2 * len(config["generators"]) * folds
    for history in histories:
        twin = tmp_path / history.relative_to(workdir)
        pd.testing.assert_frame_equal(pd.read_csv(twin), pd.read_csv(history))
    one_job = tmp_path / "results" / "tiny" / "cv" / "tiny" / "g1" / "16"
    fold_seconds = [
        json.loads((one_job / f"fold{fold}" / "metrics.json").read_text())["process_seconds"]
        for fold in range(folds)
    ]
    # the first fold carries the process start-up (TensorFlow import), later folds only theirs
    assert fold_seconds[0] > fold_seconds[1]
    assert planned_jobs(tmp_path, batched, target) == []


def test_unknown_config_key_is_a_clear_error(tmp_path, tiny_config):
    tiny_config["trainig"] = {"epochs": 3}
    result = run_snakemake(tmp_path, tiny_config, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    # one line naming the misspelt key and the closest valid one (not just echoing it)
    assert "trainig: unknown key; did you mean 'training'?" in output
    assert "1 problem(s) in the configuration" in output
