"""Cluster requests that issue 18 changed: the GPU switch's partition, the start-up paid
once per all-folds job, the LiteRT-only phone predictions and the table-only jobs."""

from __future__ import annotations

from types import SimpleNamespace

from mobileclf.workflow import resources as res
from mobileclf.workflow import rule_resources as R


def _config(gpu: bool) -> dict:
    return {"training": {"gpu": gpu}, "cluster": {"gpu_partition": "a100"}}


def test_gpu_switch_adds_the_partition_only_with_gpus():
    assert R.train_partition(_config(True)) == {"slurm_partition": "a100"}
    assert R.train_partition(_config(False)) == {}


def test_all_folds_job_pays_the_start_up_once():
    # seconds-long trainings: three in one job fit the minute that one of them asks for
    one = res.train_runtime(80, 1, 10**5, 1, False)
    three = res.train_runtime(80, 1, 10**5, 1, False, trainings=3)
    assert one == three == 1
    big = res.train_runtime(2482, 50, 10**8, 1, False, trainings=5)
    assert big < 5 * res.train_runtime(2482, 50, 10**8, 1, False)
    assert res.train_runtime(2482, 50, 10**8, 1, False, attempt=2, trainings=5) == 2 * big


def test_tflite_predictions_ask_less_than_the_keras_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no manifest: 2 x demo_per_class images
    config = {
        "datasets": {"d": {"demo": True, "demo_per_class": 40}},
        "resize": {"sizes": [48]},
    }
    keras = R.mobile_predict_mem_mb(config, SimpleNamespace(dataset="d", variant="keras"), 1)
    tflite = R.mobile_predict_mem_mb(config, SimpleNamespace(dataset="d", variant="int8"), 1)
    assert keras >= res.TF_BASELINE_MB > tflite >= res.TABLE_BASELINE_MB
    assert R.table_mem_mb(config, SimpleNamespace(dataset="d"), 2) == 2 * res.TABLE_BASELINE_MB
