"""Resource estimates: parameter counts match Keras, requests grow where the cost grows,
the profiles comment every entry (as Snakemake plans them: tests/workflow/test_resources_run.py)."""

import re

import pytest
import yaml
from conftest import REPO

from mobileclf.workflow import resources as res

PAPER_MODEL2 = [
    {"type": "conv", "filters": 32, "kernel": 3},
    {"type": "maxpool", "pool": 2},
    {"type": "conv", "filters": 64, "kernel": 3},
    {"type": "maxpool", "pool": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 256},
    {"type": "dense", "units": 128},
]
ODD = [  # same padding, strides, global pooling, dropout, a dense on the 4-D tensor
    {"type": "conv", "filters": 8, "kernel": 5, "strides": 2, "padding": "same"},
    {"type": "dense", "units": 6},
    {"type": "conv", "filters": 4, "kernel": 3},
    {"type": "gap"},
    {"type": "dropout", "rate": 0.2},
    {"type": "dense", "units": 16},
]


@pytest.mark.parametrize(("layers", "size", "classes"), [(PAPER_MODEL2, 50, 2), (ODD, 33, 4)])
def test_parameter_count_matches_keras(layers, size, classes):
    import numpy as np

    from mobileclf.train.architectures import build_model

    model = build_model(layers, size, classes, 1 / 255, np.ones(3), np.full(3, 2.0))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert res.count_params(layers, size, classes) == trainable
    spec_layer = re.compile(r"^((conv|maxpool|flatten|gap|dense|dropout)_\d+|probabilities)$")
    shapes = [layer.output.shape for layer in model.layers if spec_layer.match(layer.name)]
    elements = [int(np.prod(s[1:])) for s in shapes]
    assert [row[2] for row in res.layer_shapes(layers, size, classes)] == elements


def test_paper_model1_parameters_by_size():
    model1 = [
        {"type": "conv", "filters": 32, "kernel": 3},
        {"type": "maxpool", "pool": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 128},
    ]
    # conv 896 + dense (14*14*32*128 + 128) + softmax (128*2 + 2) at 30 px
    assert res.count_params(model1, 30, 2) == 896 + 14 * 14 * 32 * 128 + 128 + 258


def test_memory_grows_with_attempt_size_data_and_optimizer():
    base = dict(size=100, n_images=2000, batch_size=10, params=10**6, activations=10**5)
    first = res.train_mem_mb(**base, optimizer="sgd")
    assert res.train_mem_mb(**base, optimizer="sgd", attempt=2) == 2 * first
    assert res.train_mem_mb(**base, optimizer="sgd", attempt=3) == 3 * first
    assert res.train_mem_mb(**{**base, "size": 300}, optimizer="sgd") > first
    assert res.train_mem_mb(**{**base, "n_images": 20000}, optimizer="sgd") > first
    assert res.train_mem_mb(**{**base, "params": 5 * 10**7}, optimizer="adam") > (
        res.train_mem_mb(**{**base, "params": 5 * 10**7}, optimizer="sgd")
    )
    # 2000 images of 300 px: three uint8 copies alone are 1.5 GB
    assert res.train_mem_mb(**{**base, "size": 300}, optimizer="sgd") > 900 + 1.5 * 1545
    assert first % 100 == 0 and first >= res.TF_BASELINE_MB


def test_runtime_scales_with_work_and_gpu_is_faster():
    cpu = res.train_runtime(2482, 50, 10**8, threads=1, gpu=False)
    assert res.train_runtime(2482, 100, 10**8, threads=1, gpu=False) > 1.9 * (
        cpu - res.STARTUP_MINUTES
    )
    assert res.train_runtime(2482, 50, 10**8, threads=4, gpu=False) < cpu
    assert res.train_runtime(2482, 50, 10**8, threads=1, gpu=True) < cpu / 10
    assert res.train_runtime(2482, 50, 10**8, 1, False, attempt=2) == 2 * cpu


def test_dataset_images_counts_accepted_rows(tmp_path):
    manifest = tmp_path / "manifest.csv"
    assert res.dataset_images(manifest, fallback=123) == 123
    manifest.write_text("path,label,status\na.png,x,ok\nb.png,x,rejected\nc.png,y,ok\n")
    assert res.dataset_images(manifest) == 2


@pytest.mark.parametrize("name", ["default", "slurm"])
def test_profiles_comment_every_entry(name):
    lines = (REPO / "profiles" / name / "config.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z][\w-]*:", line):  # every top-level entry has a comment above
            assert lines[number - 1].startswith("#"), f"uncommented entry: {line}"


def test_slurm_profile_has_the_documented_keys():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1 and profile["latency-wait"] >= 30
    assert profile["slurm-status-command"] == "squeue"
    assert {"prep", "summary"} <= set(profile["groups"].values())
    default = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    # keys of profiles/default override --profile profiles/slurm: none may clash
    assert not set(default) & set(profile)
