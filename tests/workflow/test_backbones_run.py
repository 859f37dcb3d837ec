"""Backbones at full cost: every backbone's int8 conversion, and grids through Snakemake
(the DAG's batch-size axis and ImageNet fetch, a real grid)."""

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
from backbone_checks import QUICK, check_trains_and_runs_as_int8_tflite
from conftest import one_job_per_cell, planned_jobs, run_snakemake

from mobileclf.train.backbones import BACKBONES


def _backbone_config(tiny_config: dict) -> dict:
    config = tiny_config
    config["resize"]["sizes"] = [32]
    config["generators"] = {"g1": {"rescale": 1 / 255}}
    config["training"]["epochs"] = 1
    config["architectures"]["mnv3s"] = {
        "backbone": {"name": "MobileNetV3Small", "weights": "none"},
        "batch_sizes": [4, 8],
    }
    config["selection"] = {"metric": "mean_macro_f1"}
    return config


def test_dag_batch_sizes_and_imagenet_fetch(tmp_path, tiny_config):
    config = _backbone_config(tiny_config)
    config["resize"]["sizes"] = [32, 48]
    config["architectures"]["mnv2"] = {"backbone": {"name": "MobileNetV2"}}  # imagenet
    jobs = planned_jobs(tmp_path, config)
    trained = {(w["arch"], w["size"]) for rule, w in jobs if rule == "train_cv"}
    assert {arch for arch, _ in trained} == {"tiny", "mnv3s_b4", "mnv3s_b8", "mnv2"}
    fetched = sorted((w["arch"], w["size"]) for rule, w in jobs if rule == "fetch_imagenet")
    assert fetched == [("mnv2", "32"), ("mnv2", "48")]  # once per size, not per fold
    # a local weights file is an input: missing, Snakemake names it before anything runs
    config["architectures"]["mnv2"]["backbone"]["weights"] = "weights/mnv2.weights.h5"
    result = run_snakemake(tmp_path, config, "-n", check=False)
    assert result.returncode != 0 and "weights/mnv2.weights.h5" in result.stdout + result.stderr


@pytest.mark.slow
def test_backbone_grid_with_batch_axis_and_selection_metric(tmp_path, tiny_config):
    config = one_job_per_cell(_backbone_config(tiny_config))
    run_snakemake(tmp_path, config, "results/tiny/selection.json")  # nothing past it is asserted
    results = tmp_path / "results" / "tiny"
    metrics = json.loads((results / "cv/mnv3s_b4/g1/32/fold0/metrics.json").read_text())
    assert metrics["batch_size"] == 4 and metrics["backbone"] == "MobileNetV3Small"
    assert metrics["ignored_generator_keys"] == ["rescale"]
    assert [phase["phase"] for phase in metrics["phases"]] == ["full"]
    assert set(metrics) >= {"macro_f1", "auc", "sensitivity", "specificity", "tp", "per_class"}
    history = pd.read_csv(results / "cv/mnv3s_b8/g1/32/fold1/history.csv")
    assert history.learning_rate.tolist() == pytest.approx([0.003])
    summary = pd.read_csv(results / "tables/cv_summary.csv")
    assert sorted(summary.arch) == ["mnv3s_b4", "mnv3s_b8", "tiny"]
    assert {"mean_macro_f1", "mean_auc", "mean_sensitivity", "mean_specificity"} <= set(summary)
    runs = pd.read_csv(results / "tables/cv_runs.csv")
    assert len(runs) == 6 and runs.sensitivity.notna().all()
    selection = json.loads((results / "selection.json").read_text())
    assert selection["metric"] == "mean_macro_f1"
    assert selection["score"] == pytest.approx(summary.mean_macro_f1.max())
    assert selection["arch"] in set(
        summary[summary.mean_macro_f1 == summary.mean_macro_f1.max()].arch
    )
    # rerun contract: a new batch size trains only its own jobs
    config["architectures"]["mnv3s"]["batch_sizes"] = [4, 8, 16]
    jobs = planned_jobs(tmp_path, config)
    assert {w.get("arch") for rule, w in jobs if rule == "train_cv_folds"} == {"mnv3s_b16"}


SLOW_BACKBONES = [name for name in BACKBONES if name != QUICK]


@pytest.fixture(scope="module")
def backbone_checks():
    """The slow backbones' checks, started together on two worker processes (one per core:
    each int8 conversion is single-threaded and takes minutes); every test waits for its
    own. The same code as tests/unit's quick backbone, in fresh interpreters (spawn)."""
    context = multiprocessing.get_context("spawn")
    # one check per interpreter (max_tasks_per_child=1): a worker reused after another
    # backbone's check trained ResNet101 differently from a fresh process
    pool = ProcessPoolExecutor(max_workers=2, mp_context=context, max_tasks_per_child=1)
    try:
        yield {
            name: pool.submit(check_trains_and_runs_as_int8_tflite, name) for name in SLOW_BACKBONES
        }
    finally:  # interrupted: drop the checks not started yet
        pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_BACKBONES)
def test_every_backbone_trains_and_runs_as_int8_tflite(name, backbone_checks):
    """As tests/unit's quick backbone: each other backbone through the export stage's own
    conversion and verification code (float32 within tolerance, int8 with uint8 I/O); a
    failed check re-raises here with its message."""
    backbone_checks[name].result()
