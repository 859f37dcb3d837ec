"""The workflow's logic without Snakemake: config defaults, targets, params and resources
of the rules as pure functions of plain config dicts and wildcards.

Expected params and resources are the values the workflow produced before this logic left
common.smk (dumped from a dry run of the demo and paper configs): params are the rerun
contract, so a finished results folder must not rerun because the code moved.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from mobileclf.mobile import EMULATION_VERSION  # noqa: E402
from mobileclf.workflow import outputs as O  # noqa: E402
from mobileclf.workflow import params as P  # noqa: E402
from mobileclf.workflow import rule_resources as R  # noqa: E402
from mobileclf.workflow import targets as T  # noqa: E402
from mobileclf.workflow.config import (  # noqa: E402
    ConfigError,
    expand_batch_sizes,
    fill_defaults,
    load_schema,
    prepare_config,
)
from mobileclf.workflow.skipped_work import skipped_work_warnings  # noqa: E402

MODULES = ["targets", "params", "rule_resources"]  # what reads the config
SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = load_schema(SCHEMA_PATH)

SMALL = {
    "datasets": {"tiny": {"demo": True, "demo_per_class": 12}},
    "resize": {"sizes": [24, 16]},
    "generators": {"g1": {"rescale": 0.5}},
    "architectures": {
        "net": {"layers": [{"type": "conv", "filters": 4}, {"type": "flatten"}]},
        "mnv2": {"backbone": {"name": "MobileNetV2"}},
    },
    "training": {"epochs": 2},
}


def raw(name: str) -> dict:
    return yaml.safe_load((REPO / "config" / name).read_text(encoding="utf-8"))


def prepared(config: dict) -> dict:
    return prepare_config(copy.deepcopy(config), SCHEMA_PATH)


def wc(**values) -> SimpleNamespace:
    """Wildcards as Snakemake passes them: attributes, string values."""
    return SimpleNamespace(**{key: str(value) for key, value in values.items()})


@pytest.fixture
def demo() -> dict:
    return prepared(raw("config.yaml"))


@pytest.fixture
def paper() -> dict:
    return prepared(raw("paper.yaml"))


# --- config: defaults from the schema, batch-size grids ---------------------------------


def test_defaults_are_filled_inside_every_nested_section():
    config = prepared(SMALL)
    tiny = config["datasets"]["tiny"]
    assert tiny["ingest"] == {
        "max_pixels": 100_000_000,
        "oversize": "reject",
        "min_side": 1,
        "follow_symlinks": False,
        "group_csv_path_column": "path",
        "group_csv_group_column": "group",
    }
    assert tiny["segmentation"]["enabled"] is False
    assert tiny["segmentation"]["clusters"] == 3
    assert tiny["positive_class"] == ""
    assert config["seed"] == 42
    assert config["split"] == {"folds": 5, "holdout_fraction": 0.15, "val_fraction": 0.10}
    assert config["resize"]["mode"] == "stretch"
    assert config["resize"]["resample"] == "bilinear"
    assert config["training"]["batch_size"] == 10
    assert config["training"]["optimizer"] == "sgd"
    assert config["training"]["schedule"] == {
        "type": "constant",
        "step_size": 10,
        "gamma": 0.1,
        "min_learning_rate": 0.0,
    }
    assert "mixed_precision" not in config["training"]  # opt-in, no default
    assert config["export"]["variants"] == ["float32", "dynamic", "int8", "float16"]
    assert config["export"]["tolerance"] == 0.0001
    assert config["export"]["metadata"]["name"] == "mobileclf image classifier"
    mobile = config["mobile"]
    assert mobile["thresholds"] == {
        "gallery_accuracy": 0.85,
        "camera_accuracy": 0.8,
        "camera_severity": 1,
    }
    assert mobile["latency"] == {"threads": [1, 4], "warmup": 5, "runs": 50}
    assert mobile["camera_levels"][0] == {
        "fill": 1.0,
        "offset": 0.0,
        "rotation": 0.0,
        "light": 0.0,
        "contrast": 0.0,
        "blur": 0.0,
        "noise": 0.0,
        "yuv": False,
        "jpeg_quality": None,
    }
    # issue 16: the four levels of config/config.yaml, so camera_severity 1 exists
    demo = fill_defaults(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), SCHEMA)
    assert len(mobile["camera_levels"]) == 4
    assert mobile["camera_levels"] == demo["mobile"]["camera_levels"]
    backbone = config["architectures"]["mnv2"]
    assert backbone["backbone"]["weights"] == "imagenet"
    assert backbone["backbone"]["trainable_layers"] == 20
    assert backbone["layers"][0] == {"type": "gap"}
    assert "reduction" not in config  # no section, no stage


def test_defaults_are_copies_not_shared_between_datasets():
    config = copy.deepcopy(SMALL)
    config["datasets"]["other"] = {"root": "data"}
    fill_defaults(config, SCHEMA)
    config["datasets"]["tiny"]["ingest"]["max_pixels"] = 64
    assert config["datasets"]["other"]["ingest"]["max_pixels"] == 100_000_000


def test_given_values_are_kept():
    config = copy.deepcopy(SMALL)
    config["mobile"] = {"thresholds": {"camera_severity": 2}, "camera_levels": [{}, {"blur": 2}]}
    fill_defaults(config, SCHEMA)
    assert config["mobile"]["thresholds"]["camera_severity"] == 2
    assert config["mobile"]["thresholds"]["gallery_accuracy"] == 0.85
    assert config["mobile"]["camera_levels"][1]["blur"] == 2
    assert config["mobile"]["camera_levels"][1]["fill"] == 1.0


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "companion.yaml", "small"])
def test_filled_config_is_what_snakemake_validate_fills(name):
    """The workflow once let snakemake.utils.validate(set_default=True) fill defaults; the
    library's filler must give the same config (or params, the rerun contract, change)."""
    from snakemake.utils import validate

    config = SMALL if name == "small" else raw(name)
    ours = copy.deepcopy(config)
    fill_defaults(ours, SCHEMA)
    theirs = copy.deepcopy(config)
    validate(theirs, schema=str(SCHEMA_PATH))
    assert ours == theirs
    assert ours != config  # something was filled in


def test_defaults_are_written_in_the_schema_only():
    """No `.get(key, default)` on the config in the workflow's code: a second default
    beside the schema's drifts from it (the rules index the filled config directly)."""
    files = [REPO / "scripts/mobileclf/workflow" / f"{name}.py" for name in MODULES]
    files += [*sorted((REPO / "workflow" / "rules").glob("*.smk")), REPO / "Snakefile"]
    offenders = [
        f"{path.name}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\.get\([^()]*,", line)
    ]
    assert offenders == []
    assert len((REPO / "workflow/rules/common.smk").read_text().splitlines()) < 200


def test_bad_key_is_one_clear_line():
    config = copy.deepcopy(SMALL)
    config["training"]["epoch"] = 3
    with pytest.raises(ConfigError, match=r"training\.epoch: unknown key; did you mean 'epochs'"):
        prepared(config)


def test_batch_sizes_become_grid_architectures():
    config = copy.deepcopy(SMALL)
    config["architectures"]["mnv2"]["batch_sizes"] = [16, 32]
    config = prepared(config)
    assert T.archs(config) == ["mnv2_b16", "mnv2_b32", "net"]
    assert config["architectures"]["mnv2_b32"]["batch_size"] == 32
    assert "batch_sizes" not in config["architectures"]["mnv2_b16"]
    assert config["architectures"]["mnv2_b16"]["backbone"]["weights"] == "imagenet"


def test_batch_size_grid_name_clash_is_an_error():
    architectures = {"a": {"layers": [], "batch_sizes": [8]}, "a_b8": {"layers": []}}
    with pytest.raises(ConfigError, match=r"architectures\.a\.batch_sizes makes a_b8"):
        expand_batch_sizes(architectures)


# --- targets --------------------------------------------------------------------------


def test_demo_final_targets(demo):
    d = "results/demo"
    assert O.final_outputs(demo) == [
        f"{d}/selection.json",
        f"{d}/tables/cv_summary.md",
        f"{d}/plots/cv_heatmap.png",
        f"{d}/reduction.json",
        f"{d}/tables/reduction.csv",
        f"{d}/plots/reduction_heatmap.png",
        f"{d}/plots/reduction_tradeoff.png",
        f"{d}/final/metrics.json",
        f"{d}/tables/export.csv",
        f"{d}/deploy/labels.txt",
        f"{d}/deploy/metadata.json",
        f"{d}/deploy/model_card.md",
        f"{d}/deploy/model_float32.tflite",
        f"{d}/deploy/model_dynamic.tflite",
        f"{d}/deploy/model_int8.tflite",
        f"{d}/deploy/model_float16.tflite",
        f"{d}/report.html",
        f"{d}/report.md",
    ]


def test_targets_follow_reduction_segmentation_and_datasets():
    config = copy.deepcopy(SMALL)
    config["datasets"]["tiny"]["segmentation"] = {"enabled": True}
    config["datasets"]["ct"] = {"root": "data/ct"}
    config["export"] = {"variants": ["int8"]}
    config = prepared(config)
    outputs = O.final_outputs(config)
    assert not any("reduction" in path for path in outputs)
    assert "results/tiny/plots/segmentation.png" in outputs
    assert "results/ct/plots/segmentation.png" not in outputs
    assert [p for p in outputs if p.endswith(".tflite")] == [
        "results/ct/deploy/model_int8.tflite",
        "results/tiny/deploy/model_int8.tflite",
    ]
    assert outputs[-1] == "results/index.html"
    assert len(outputs) == 11 + 12 + 1  # tiny has the segmentation figure


@pytest.mark.parametrize(
    ("section", "enabled"),
    [(None, False), ({"enabled": False}, False), ({}, True), ({"enabled": True}, True)],
)
def test_one_reduction_switch_for_final_spec_targets_and_report(section, enabled):
    """Present and not `enabled: false` (the schema fills in enabled: true): the final
    spec, the final targets and the report's inputs agree."""
    config = copy.deepcopy(SMALL)
    if section is not None:
        config["reduction"] = {**section, "filters": [2, 4], "neurons": [8]}
    config = prepared(config)
    w = wc(dataset="tiny")
    assert T.reduction_enabled(config) is enabled
    name = "reduction.json" if enabled else "choice.json"
    assert T.final_spec(config, w) == f"results/tiny/{name}"
    assert ("reduction" in T.report_inputs(config, w)) is enabled
    assert ("results/tiny/reduction.json" in O.final_outputs(config)) is enabled
    assert len(T.report_inputs(config, w)) == 16 + enabled  # 16th: tables/phone_measured.csv


def test_ingest_input_lists_regular_visible_files(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "a" / "x.png").write_bytes(b"1")
    (root / "a" / ".y.png").write_bytes(b"1")
    (root / ".hidden" / "z.png").write_bytes(b"1")
    (root / "b.png").write_bytes(b"1")
    os.symlink(root / "b.png", root / "link.png")
    config = copy.deepcopy(SMALL)
    config["datasets"]["own"] = {"root": str(root)}
    config = prepared(config)
    assert T.ingest_input(config, wc(dataset="own")) == [
        str(root / "a" / "x.png"),
        str(root / "b.png"),
    ]
    assert T.ingest_input(config, wc(dataset="tiny")) == "results/tiny/demo_data"
    assert T.images_root(config, wc(dataset="own")) == str(root)
    assert T.resize_root(config, wc(dataset="tiny")) == "results/tiny/demo_data"
    assert T.segmented_input(config, wc(dataset="tiny")) == []


def test_backbone_weights_input():
    config = copy.deepcopy(SMALL)
    config["architectures"]["own"] = {"backbone": {"name": "MobileNetV2", "weights": "w.h5"}}
    config["architectures"]["scratch"] = {"backbone": {"name": "MobileNetV2", "weights": "none"}}
    config = prepared(config)
    weights = {a: T.backbone_weights(config, wc(arch=a, size=24)) for a in T.archs(config)}
    assert weights == {
        "mnv2": "results/_imagenet/mnv2/24.json",
        "net": [],
        "own": "w.h5",
        "scratch": [],
    }


def test_cv_metrics_in_snakemake_expand_order():
    from snakemake.io import expand

    config = prepared(SMALL)
    expected = expand(
        "results/{dataset}/cv/{arch}/{generator}/{size}/fold{fold}/metrics.json",
        dataset="tiny",
        arch=["mnv2", "net"],
        generator=["g1"],
        size=[16, 24],
        fold=[0, 1, 2, 3, 4],
    )
    assert T.cv_metrics(config, wc(dataset="tiny")) == expected
    assert len(expected) == 20


def test_batched_and_per_fold_sizes(paper):
    assert T.batched_sizes(paper) == [30, 50, 100]
    assert T.per_fold_sizes(paper) == [200, 300]
    assert T.wildcard_pattern(T.per_fold_sizes(paper)) == "200|300"
    assert T.wildcard_pattern(["keras", "a.b"]) == r"keras|a\.b"
    assert T.wildcard_pattern([]) == "(?!)"  # matches nothing, not everything


def test_reduction_blocks_reuse_finished_blocks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(SMALL)
    config["reduction"] = {"filters": {"from": 1, "to": 3}, "neurons": [4, 8], "block_size": 4}
    config["architectures"]["net"]["layers"].append({"type": "dense", "units": 16})
    config = prepared(config)
    selection = {"arch": "net", "generator": "g1", "size": 16}
    folder = "results/tiny/reduction/net/g1/16"
    fresh = T.reduction_blocks(config, wc(dataset="tiny"), selection)
    assert fresh == [f"{folder}/blocks/f1n4.8_f2n4.8.csv", f"{folder}/blocks/f3n4.8.csv"]
    Path(folder, "blocks").mkdir(parents=True)
    Path(folder, "blocks", "f1n4_f2n4_f3n4.csv").write_text("done")
    reused = T.reduction_blocks(config, wc(dataset="tiny"), selection)
    assert reused == [f"{folder}/blocks/f1n4_f2n4_f3n4.csv", f"{folder}/blocks/f1n8_f2n8_f3n8.csv"]
    assert T.reduction_images(wc(dataset="tiny"), selection) == "results/tiny/arrays/16.npy"
    # a backbone selection has no first conv: the stage is skipped, no blocks
    backbone = {"arch": "mnv2", "generator": "g1", "size": 16}
    assert T.reduction_blocks(config, wc(dataset="tiny"), backbone) == []


def test_mobile_inputs(demo):
    w = wc(dataset="demo", variant="keras")
    assert T.mobile_model(w) == "results/demo/final/model.keras"
    assert T.mobile_model(wc(dataset="demo", variant="int8")) == (
        "results/demo/deploy/model_int8.tflite"
    )
    assert T.camera_inputs(demo, w)[-1] == "results/demo/mobile/inputs/camera_3.npy"
    assert len(T.camera_examples(demo, w)) == 4
    assert T.mobile_predictions(demo, w)[:2] == [
        "results/demo/mobile/predictions/keras.csv",
        "results/demo/mobile/predictions/float32.csv",
    ]


# --- params: the values the workflow passed before the move ----------------------------

DEMO_TRAINING = (
    '{"batch_size": 10, "early_stopping_monitor": "val_loss", "early_stopping_patience": null, '
    '"epochs": 12, "learning_rate": 0.001, "momentum": 0.0, "optimizer": "adam", '
    '"schedule": {"gamma": 0.1, "min_learning_rate": 0.0001, "step_size": 10, '
    '"type": "cosine"}}'
)


def test_demo_params_of_data_stages(demo):
    w = wc(dataset="demo", size=32)
    assert P.demo_per_class(demo, w) == 40
    assert P.ingest_options(demo, w) == (
        '{"follow_symlinks": false, "group_csv_group_column": "group", '
        '"group_csv_path_column": "path", "max_pixels": 100000000, "min_side": 1, '
        '"oversize": "reject"}'
    )
    assert P.split_options(demo, w) == (
        '{"folds": 3, "holdout_fraction": 0.15, "seed": 42, "val_fraction": 0.1}'
    )
    assert P.resize_options(demo, w) == (
        '{"max_pixels": 100000000, "mode": "stretch", "oversize": "reject", "resample": "bilinear"}'
    )


def test_demo_params_of_training(demo):
    w = wc(dataset="demo", arch="model1", generator="g1", size=32, fold=2)
    assert P.training_spec(demo, w) == DEMO_TRAINING  # without gpu, batch_folds_below
    assert P.arch_spec(demo, w) == (
        '{"layers": [{"filters": 16, "kernel": 3, "type": "conv"}, {"pool": 2, "type": '
        '"maxpool"}, {"type": "flatten"}, {"type": "dense", "units": 32}, {"rate": 0.3, '
        '"type": "dropout"}]}'
    )
    assert P.generator_spec(demo, w) == '{"rescale": 0.00392156862745098}'
    assert P.positive_class(demo, w) == "lesion"
    assert P.job_seed(demo, w) == 44
    assert P.fold_seeds(demo, w) == [42, 43, 44]
    assert P.final_val_fraction(demo, w) == 0.0
    assert P.final_seed(demo, w) == 42
    assert P.reduction_seed(demo, w) == 42


def test_later_phone_keys_at_their_defaults_do_not_change_generator_params(demo):
    """plain_epochs and plain_pass came after phone generators: a config that never set
    them (as filled before they existed) and one with their defaults give the same params,
    so their arrival reruns no training; another value does change them. (config.yaml's
    phone generator leaves them unset; paper.yaml's sets both.)"""
    w = wc(dataset="demo", arch="model1", generator="phone", size=32, fold=0)
    choice = {"arch": "model1", "generator": "phone"}
    calls = (
        lambda c: P.generator_spec(c, w),
        lambda c: P.reduction_generator(c, choice),
        lambda c: P.final_generator(c, choice),
        lambda c: P.verdict_options(c, choice),
    )
    section = demo["generators"]["phone"]["phone_views"]
    assert section["plain_epochs"] == 0 and section["plain_pass"] is False  # filled
    with_defaults = [call(demo) for call in calls]
    old = copy.deepcopy(demo)
    del old["generators"]["phone"]["phone_views"]["plain_epochs"]
    del old["generators"]["phone"]["phone_views"]["plain_pass"]
    del old["generators"]["phone"]["phone_views"]["draws_per_epoch"]
    assert [call(old) for call in calls] == with_defaults
    assert "plain_pass" not in with_defaults[0] and "plain_epochs" not in with_defaults[0]
    assert '"plain_probability": 0.3' in with_defaults[0]  # other keys stay, defaults or not
    # joint_probability has no schema default: unset, or 0, changes neither training
    # nor the views (rule phone_views' params)
    assert "joint_probability" not in section
    views = wc(dataset="demo", size=32, generator="phone")
    zero = copy.deepcopy(demo)
    zero["generators"]["phone"]["phone_views"]["joint_probability"] = 0
    assert [call(zero) for call in calls] == with_defaults
    assert P.phone_views_options(zero, views) == P.phone_views_options(demo, views)
    zero["generators"]["phone"]["phone_views"]["joint_probability"] = 0.5
    assert P.phone_views_options(zero, views) != P.phone_views_options(demo, views)
    changes = (("plain_epochs", 2), ("plain_pass", True), ("draws_per_epoch", 2))
    for key, value in (*changes, ("joint_probability", 1.0)):
        changed = copy.deepcopy(demo)
        changed["generators"]["phone"]["phone_views"][key] = value
        assert [call(changed) for call in calls] != with_defaults
        assert P.generator_spec(changed, w) != with_defaults[0]


def test_scheduling_keys_do_not_change_training_params(demo):
    before = P.training_spec(demo, None)
    demo["training"]["gpu"] = True
    demo["training"]["batch_folds_below"] = 0
    assert P.training_spec(demo, None) == before
    demo["training"]["early_stopping_patience"] = 3
    assert P.final_val_fraction(demo, None) == 0.1


def test_train_attempts_read_metrics(tmp_path, monkeypatch, demo):
    monkeypatch.chdir(tmp_path)
    w = wc(dataset="demo", arch="model1", generator="g1", size=32, fold=1)
    path = Path(T.cv_metrics_path(w, 1))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"status": "failed", "attempt": 2}))
    assert P.train_attempt(demo, w) == 2
    assert P.fold_attempts(demo, w) == [0, 2, 0]


def test_demo_params_of_export_and_reduction(demo):
    assert P.calibration_images(demo, wc(variant="int8")) == 200
    assert P.calibration_images(demo, wc(variant="float32")) == 0
    assert P.export_tolerance(demo, None) == 0.0001
    assert P.metadata_fields(demo, None) == (
        '{"author": "mobileclf demo", "description": "Flags CT-like slices with a lesion. '
        'Demo data. A screening aid, not a diagnosis.", "license": "CC-BY-4.0", '
        '"name": "Demo CT lesion classifier", "version": "v1"}'
    )
    assert P.card_resize(demo, None) == '{"mode": "stretch", "resample": "bilinear"}'
    assert P.reduction_grid(demo, None) == (
        '{"filters": [2, 4, 8, 16], "neurons": [4, 8, 32], "tolerance": 1.0}'
    )
    selection = {"arch": "model1", "generator": "g1", "size": 32}
    assert P.reduction_arch(demo, selection) == P.arch_spec(demo, wc(arch="model1"))
    assert P.reduction_generator(demo, selection) == '{"rescale": 0.00392156862745098}'


def test_paper_reduction_grid_expands_ranges(paper):
    grid = json.loads(P.reduction_grid(paper, None))
    assert grid["filters"] == list(range(1, 20))
    assert grid["neurons"] == list(range(1, 20))


def test_demo_params_of_mobile_testing(demo):
    w = wc(dataset="demo", severity=0)
    assert P.camera_level(demo, w) == (
        '{"conditions": {"blur": 0.0, "contrast": 0.0, "fill": 1.0, "jpeg_quality": null, '
        '"light": 0.0, "noise": 0.0, "offset": 0.0, "rotation": 0.0, "yuv": false}, '
        f'"emulation": {EMULATION_VERSION}, '
        '"max_pixels": 100000000, "oversize": "reject", "seed": 42, "segmentation": null, '
        '"sensor_orientation": 90}'
    )
    level2 = json.loads(P.camera_level(demo, wc(dataset="demo", severity=2)))["conditions"]
    assert level2["jpeg_quality"] == 80
    assert level2["fill"] == 0.8
    assert P.mobile_reference_options(demo, w) == (
        '{"max_pixels": 100000000, "mode": "stretch", "oversize": "reject", '
        '"phone_test_per_class": 5, "resample": "bilinear", "seed": 42, "segmentation": null}'
    )
    assert P.latency_options(demo, w) == '{"runs": 50, "threads": [1, 4], "warmup": 5}'
    verdict = json.loads(P.verdict_options(demo, {"generator": "g3"}))
    assert verdict["thresholds"] == {
        "camera_accuracy": 0.8,
        "camera_severity": 1,
        "gallery_accuracy": 0.85,
    }
    # the chosen generator and the phone-path ones (the verdict's phone table) only:
    # editing another one reruns no phone test (plain_epochs, plain_pass at their defaults
    # left out: test_later_phone_keys_at_their_defaults_do_not_change_generator_params)
    phone = copy.deepcopy(demo["generators"]["phone"])
    for key in ("plain_epochs", "plain_pass", "draws_per_epoch"):
        del phone["phone_views"][key]
    assert verdict["generators"] == {"g3": demo["generators"]["g3"], "phone": phone}
    assert "g1" not in json.loads(P.verdict_options(demo, {"generator": "phone"}))["generators"]


def test_segmentation_reaches_the_jobs_that_read_images(demo):
    demo["datasets"]["demo"]["segmentation"]["enabled"] = True
    demo["datasets"]["demo"]["ingest"]["oversize"] = "downscale"
    w = wc(dataset="demo", severity=1)
    options = json.loads(P.segment_options(demo, w))
    assert options["clusters"] == 3
    assert options["foreground"] == "not_border"
    assert options["oversize"] == "downscale"
    assert json.loads(P.camera_level(demo, w))["segmentation"]["work_size"] == 256
    assert T.resize_root(demo, w) == "results/demo/segmented"
    assert T.segmented_input(demo, w) == "results/demo/segmented"


# --- resources: the requests the workflow made before the move -------------------------


def test_light_and_export_resources_before_ingest(tmp_path, monkeypatch, demo):
    monkeypatch.chdir(tmp_path)  # no manifest yet: 2 x demo_per_class images
    w = wc(dataset="demo", size=48)
    assert R.dataset_images(demo, "demo") == 80
    assert R.light_mem_mb(demo, w, 1) == 300
    assert R.light_runtime(demo, w, 1) == 1
    assert R.light_runtime(demo, w, 2) == 2
    assert R.resize_mem_mb(demo, w, 1) == 400
    assert R.export_mem_mb(demo, w, 1) == 1000
    assert R.export_runtime(demo, w, 3) == 3
    assert R.backbone_mem_mb(demo, w, 2) == 5000


def test_training_resources_before_ingest(tmp_path, monkeypatch, demo, paper):
    monkeypatch.chdir(tmp_path)
    w = wc(dataset="demo", arch="model1", generator="g1", size=32)
    assert R.train_cv_folds_mem_mb(demo, w, 1) == 1000
    assert R.train_cv_folds_runtime(demo, w, 1) == 1
    assert R.train_final_mem_mb(demo, w, 1) == 1000
    assert R.train_final_runtime(demo, w, 1) == 1
    assert R.train_gpu(demo, w) == 0
    # paper: 5000 images assumed before ingest, 2 classes
    w200 = wc(dataset="ct", arch="model1", generator="g1", size=200, fold=0)
    assert R.train_threads(paper, w200) == 4
    assert R.train_cv_mem_mb(paper, w200, 1) == 4600
    assert R.train_cv_runtime(paper, w200, 1) == 312
    w30 = wc(dataset="ct", arch="model1", generator="g1", size=30)
    # its 5 folds train as towers (mobileclf.train.towers): 5 folds' rows and models at once;
    # one fold, or the folds one after another (here: on a GPU), asks for 1000
    assert R.train_cv_folds_mem_mb(paper, w30, 1) == 1300
    w30_fold = wc(dataset="ct", arch="model1", generator="g1", size=30, fold=0)
    assert R.train_cv_mem_mb(paper, w30_fold, 1) == 1000
    gpu = {**paper, "training": {**paper["training"], "gpu": True}}
    assert R.train_cv_folds_mem_mb(gpu, w30, 1) == 1000
    assert R.train_cv_folds_runtime(paper, w30, 1) == 202
    assert R.train_final_threads(paper, w30) == 4
    assert R.train_final_mem_mb(paper, w30, 1) == 9300
    assert R.train_final_runtime(paper, w30, 1) == 1848
    assert R.export_mem_mb(paper, w30, 1) == 3500


def test_recorded_failures_and_gpu_raise_the_request(tmp_path, monkeypatch, paper):
    monkeypatch.chdir(tmp_path)
    w = wc(dataset="ct", arch="model1", generator="g1", size=200, fold=0)
    path = Path(T.cv_metrics_path(w, 0))
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"status": "failed", "attempt": 1}))
    assert R.train_cv_mem_mb(paper, w, 1) == 2 * 4600
    paper["training"]["gpu"] = True
    assert R.train_gpu(paper, w) == 1
    assert R.train_cv_runtime(paper, w, 1) < 312


def test_manifest_and_labels_refine_the_estimate(tmp_path, monkeypatch, demo):
    monkeypatch.chdir(tmp_path)
    tables = tmp_path / "results" / "demo"
    tables.mkdir(parents=True)
    rows = ["path,label,status"] + [f"{i}.png,a,ok" for i in range(3000)] + ["x.png,a,corrupt"]
    (tables / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tables / "labels.txt").write_text("a\nb\nc\n")
    assert R.dataset_images(demo, "demo") == 3000
    assert R.n_classes("demo") == 3
    assert R.light_runtime(demo, wc(dataset="demo"), 1) == 2


def test_reduction_block_and_latency_resources(demo):
    w = wc(dataset="demo", size=32, cells="f2n4.8.32_f4n4.8.32_f8n4.8.32_f16n4.8.32")
    assert R.reduction_block_mem_mb(demo, w, 1) == 1556
    assert R.reduction_block_runtime(demo, w, 1) == 2
    assert R.mobile_latency_threads(demo, 2) == 2
    assert R.mobile_latency_threads(demo, 8) == 4
    assert R.mobile_latency_threads(demo, None) == 4


# --- after a run ------------------------------------------------------------------------


def test_skipped_work_warnings(tmp_path):
    tables = tmp_path / "demo" / "tables"
    tables.mkdir(parents=True)
    (tables / "rejects.csv").write_text("path,reason\na.png,corrupt\nb.txt,not an image\n")
    (tables / "cv_runs.csv").write_text(
        "arch,generator,size,fold,status,error\nm1,g1,32,0,ok,\nm1,g1,32,1,failed,out of memory\n"
    )
    (tmp_path / "clean" / "tables").mkdir(parents=True)
    (tmp_path / "clean" / "tables" / "rejects.csv").write_text("path,reason\n")
    lines = skipped_work_warnings(["clean", "demo", "absent"], tmp_path)
    assert lines == [
        f"demo: 2 file(s) rejected at ingest, see {tables / 'rejects.csv'}",
        "demo: training m1/g1/32 fold 1 failed: out of memory; its cell is marked "
        "incomplete in cv_summary.csv and the next run retries it",
    ]


def test_workflow_package_imports_no_tensorflow_or_pandas():
    """Snakemake imports these while it parses the workflow: that must stay fast."""
    code = (
        "import sys; sys.path.insert(0, 'scripts');"
        "import mobileclf.workflow.config, mobileclf.workflow.targets,"
        " mobileclf.workflow.params, mobileclf.workflow.rule_resources,"
        " mobileclf.workflow.skipped_work;"
        "print(sorted(m for m in ('tensorflow', 'pandas', 'numpy', 'keras')"
        " if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
