"""The last bad inputs of issue 17: symlinks inside the root, wildcard braces in file names,
layer lists that cannot be built, a corrupt array, positive_class, loose files, names in
messages and class names in Markdown. Plain functions on tmp folders and dicts; the
Snakemake side (a brace in a real run, a YAML error, a missing --configfile) is in
tests/workflow/test_bad_inputs_run.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from helpers import add_images

from mobileclf.data.ingest import IngestError, IngestOptions, ingest

OPTIONS = IngestOptions()


def two_class_root(tmp_path: Path, per_class: int = 6) -> Path:
    root = tmp_path / "data"
    add_images(root / "a", per_class, 1)
    add_images(root / "b", per_class, 2)
    return root


def entry(manifest: pd.DataFrame, path: str) -> pd.Series:
    found = manifest[manifest.path == path]
    assert len(found) == 1, f"{path} not in manifest: {manifest.path.tolist()}"
    return found.iloc[0]


def reason(manifest: pd.DataFrame, path: str) -> str:
    row = entry(manifest, path)
    assert row.status == "rejected", f"{path} was accepted"
    return row.reason


def accepted(manifest: pd.DataFrame) -> dict[str, set[str]]:
    ok = manifest[manifest.status == "ok"]
    return {label: set(ok[ok.label == label].path) for label in sorted(set(ok.label))}


# ---------------------------------------------------------------- symlinks inside the root


def test_link_into_another_class_is_rejected_never_relabelled(tmp_path):
    root = two_class_root(tmp_path)
    add_images(root / "b" / "sub", 3, 3)
    (root / "a" / "extra").symlink_to(Path("..") / "b" / "sub", target_is_directory=True)
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]
    text = reason(manifest, "a/extra")
    assert "b/sub (class 'b'), not part of class 'a'" in text and "relabel" in text
    # b/sub is read once, under its own class; nothing of it enters class a
    by_class = accepted(manifest)
    assert {f"b/sub/img00{i}.png" for i in range(3)} <= by_class["b"]
    assert not any(path.startswith("a/extra") for path in manifest.path if path != "a/extra")
    assert len(by_class["a"]) == 6 and len(by_class["b"]) == 9


def test_link_to_the_root_is_a_loop_and_keeps_every_real_folder(tmp_path):
    root = two_class_root(tmp_path, per_class=12)
    (root / "a" / "loop").symlink_to("..", target_is_directory=True)
    (root / "b" / "up").symlink_to(root / "b", target_is_directory=True)  # its own ancestor
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]
    assert "symlink loop" in reason(manifest, "a/loop")
    assert "symlink loop" in reason(manifest, "b/up")
    by_class = accepted(manifest)
    assert len(by_class["a"]) == 12 and len(by_class["b"]) == 12
    assert len(manifest) == 26  # 24 images + 2 links, nothing read twice


def test_a_file_reached_twice_is_a_duplicate_with_the_reason(tmp_path):
    root = two_class_root(tmp_path)
    add_images(root / "a" / "real", 2, 4)
    (root / "a" / "same.png").symlink_to(root / "a" / "img000.png")
    (root / "a" / "again").symlink_to(root / "a" / "real", target_is_directory=True)
    outside = tmp_path / "outside"
    add_images(outside, 2, 5)
    (root / "b" / "out1").symlink_to(outside, target_is_directory=True)
    (root / "b" / "out2").symlink_to(outside, target_is_directory=True)
    (root / "b" / "out3.png").symlink_to(outside / "img000.png")
    manifest, _ = ingest(root, IngestOptions(follow_symlinks=True))
    assert "duplicate of a/img000.png" in reason(manifest, "a/same.png")
    assert "duplicate of the folder a/real" in reason(manifest, "a/again")
    assert entry(manifest, "a/img000.png").status == "ok"
    # outside the root (followed): the first path reads it, the others are duplicates
    assert entry(manifest, "b/out1/img000.png").status == "ok"
    assert "already read" in reason(manifest, "b/out2")
    assert "duplicate of b/out1/img000.png" in reason(manifest, "b/out3.png")
    assert len(accepted(manifest)["b"]) == 8


def test_class_folder_linked_to_another_class_is_listed_not_a_class(tmp_path):
    root = two_class_root(tmp_path)
    (root / "c").symlink_to(root / "a", target_is_directory=True)
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]
    assert "read under their real class 'a'" in reason(manifest, "c")


# ---------------------------------------------------------------- wildcard braces


def test_brace_in_a_file_or_folder_name_is_rejected_with_the_path(tmp_path):
    root = two_class_root(tmp_path)
    (root / "a" / "img000.png").rename(root / "a" / "{wild}.png")
    add_images(root / "b" / "x{1}", 1, 6)
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]
    for path in ("a/{wild}.png", "b/x{1}/img000.png"):
        assert "'{' or '}', which Snakemake reads as a wildcard" in reason(manifest, path)
    assert (manifest.status == "ok").sum() == 11


def test_brace_in_a_class_folder_name_names_the_folder(tmp_path):
    root = two_class_root(tmp_path)
    add_images(root / "{c}", 6, 3)
    with pytest.raises(IngestError, match=r"class folder '\{c\}' .*rename the folder"):
        ingest(root, OPTIONS)


def test_the_ingest_input_list_leaves_brace_paths_to_ingest(tmp_path):
    from mobileclf.workflow.targets import ingest_input

    root = two_class_root(tmp_path, per_class=1)
    (root / "a" / "img000.png").rename(root / "a" / "{wild}.png")
    config = {"datasets": {"d": {"demo": False, "root": str(root)}}}
    files = ingest_input(config, SimpleNamespace(dataset="d"))
    assert files == [str(root / "b" / "img000.png")]


# ---------------------------------------------------------------- loose files, names


def test_no_class_folder_message_mentions_the_loose_images(tmp_path):
    root = tmp_path / "flat"
    add_images(root, 4, 1)
    with pytest.raises(IngestError) as raised:
        ingest(root, OPTIONS)
    message = str(raised.value)
    assert "0 class folder(s)" in message
    assert "4 file(s) lie directly under the root (img000.png, img001.png, img002.png)" in message


def test_messages_name_the_dataset_not_a_placeholder(tmp_path):
    with pytest.raises(IngestError, match=r"set datasets\.ct\.root "):
        ingest(tmp_path / "nowhere", OPTIONS, dataset="ct")
    root = two_class_root(tmp_path)
    (root / "a" / "out.png").symlink_to(tmp_path / "elsewhere.png")
    (tmp_path / "elsewhere.png").write_bytes((root / "a" / "img000.png").read_bytes())
    manifest, _ = ingest(root, OPTIONS, dataset="ct")
    assert "set datasets.ct.ingest.follow_symlinks: true" in reason(manifest, "a/out.png")


# ---------------------------------------------------------------- layer lists at config time

SCHEMA_PATH = REPO / "workflow" / "schemas" / "config.schema.yaml"


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def prepared_problems(config: dict) -> str:
    from mobileclf.workflow.config import ConfigError, prepare_config

    with pytest.raises(ConfigError) as raised:
        prepare_config(config, SCHEMA_PATH)
    return str(raised.value)


NO_FLATTEN = [{"type": "dropout", "rate": 0.5}]
KERNEL_TOO_BIG = [
    {"type": "conv", "filters": 4, "kernel": 5},
    {"type": "maxpool", "pool": 2},
    {"type": "conv", "filters": 4, "kernel": 7},
    {"type": "flatten"},
    {"type": "dense", "units": 8},
]
POOL_TOO_BIG = [{"type": "conv", "filters": 4}, {"type": "maxpool", "pool": 20}, {"type": "gap"}]
AFTER_HEAD = [{"type": "flatten"}, {"type": "dense", "units": 8}, {"type": "conv", "filters": 3}]


def test_layer_list_mistakes_are_one_line_each_naming_the_layer_and_the_size():
    config = demo_config()
    config["resize"]["sizes"] = [16, 24]
    config["architectures"] = {
        "ok": {"layers": [{"type": "conv", "filters": 4}, {"type": "flatten"}]},
        "drop": {"layers": NO_FLATTEN},
        "big": {"layers": KERNEL_TOO_BIG},
        "pool": {"layers": POOL_TOO_BIG},
        "after": {"layers": AFTER_HEAD},
    }
    message = prepared_problems(config)
    lines = [line.strip("- ").strip() for line in message.splitlines()[1:]]
    assert message.startswith("4 problem(s) in the configuration")
    assert lines[0].startswith("architectures.drop.layers[0]: no flatten or gap")
    assert (
        "16x16 feature map at image size 16" in lines[0] and "also at image size(s) 24" in lines[0]
    )
    # 16 px: 12 after the 5x5 conv, 6 after the pool: a 7x7 kernel does not fit; 24 px fits
    assert lines[1].startswith("architectures.big.layers[2]: conv kernel 7 is larger than")
    assert "6x6 feature map at image size 16" in lines[1] and "24" not in lines[1]
    assert lines[2].startswith("architectures.pool.layers[1]: maxpool pool 20")
    assert "14x14 feature map at image size 16" in lines[2] and "24" not in lines[2]
    assert lines[3].startswith("architectures.after.layers[2]: conv after the flatten at layers[0]")
    assert all(len(line) < 300 for line in lines)


def test_the_checks_agree_with_keras():
    """What the walk flags Keras cannot build (or builds without a class vector); what
    it passes Keras builds with one probability vector per image."""
    import keras

    from mobileclf.train.architectures import build_model
    from mobileclf.workflow.resources import shape_problems

    for layers in (NO_FLATTEN, KERNEL_TOO_BIG, POOL_TOO_BIG, AFTER_HEAD):
        assert shape_problems(layers, 16)
        try:
            model = build_model(layers, 16, 2)
        except ValueError:
            continue
        assert len(model.output.shape) != 2, layers  # the softmax on a feature map
    fine = copy.deepcopy(KERNEL_TOO_BIG)
    assert shape_problems(fine, 24) == []
    assert tuple(build_model(fine, 24, 2).output.shape) == (None, 2)
    keras.backend.clear_session()


def test_an_empty_architecture_says_what_to_give():
    config = demo_config()
    config["architectures"]["x"] = {}
    from mobileclf.workflow.config import config_problems, load_schema

    problems = config_problems(config, load_schema(SCHEMA_PATH))
    assert problems == [
        "architectures.x: give 'layers:' (a list such as [{type: conv, filters: 32}, "
        "{type: flatten}, {type: dense, units: 64}]) or 'backbone: {name: MobileNetV2}'"
    ]


def test_positive_class_that_is_not_a_class_folder_stops_before_any_job(tmp_path):
    root = two_class_root(tmp_path)
    config = demo_config()
    config["datasets"] = {"ct": {"root": str(root), "positive_class": "A"}}
    message = prepared_problems(config)
    assert f"datasets.ct.positive_class: 'A' is not a class folder of {root}" in message
    assert "(classes: a, b); class names are case-sensitive; did you mean 'a'?" in message
    config["datasets"]["ct"]["positive_class"] = "b"
    from mobileclf.workflow.config import prepare_config

    prepare_config(config, SCHEMA_PATH)  # a class: no problem
    # a root that does not exist yet is left to ingest (which names it)
    config = demo_config()
    config["datasets"] = {"ct": {"root": str(tmp_path / "later"), "positive_class": "x"}}
    prepare_config(config, SCHEMA_PATH)


def test_root_with_wildcard_braces_is_a_config_problem(tmp_path):
    config = demo_config()
    config["datasets"] = {"ct": {"root": str(tmp_path / "{site}")}}
    assert "datasets.ct.root: " in prepared_problems(config)
    assert "Snakemake reads as a wildcard" in prepared_problems(config)


def test_positive_class_at_training_names_the_dataset():
    from mobileclf.data.datasets import DataMismatch, positive_index

    with pytest.raises(DataMismatch, match=r"fix datasets\.ct\.positive_class in the config"):
        positive_index(["a", "b"], "c", "ct")
    assert positive_index(["a", "b"], "a", "ct") == 0


# ---------------------------------------------------------------- corrupt arrays


@pytest.mark.parametrize("damage", ["random bytes", "cut short", "not images"])
def test_a_corrupt_array_gets_delete_and_rerun(tmp_path, damage):
    from mobileclf.data.datasets import DataMismatch, load_images

    path = tmp_path / "16.npy"
    good = np.zeros((8, 16, 16, 3), np.uint8)
    np.save(path, good)
    assert load_images(path).shape == good.shape
    if damage == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    elif damage == "cut short":
        path.write_bytes(path.read_bytes()[:1000])
    else:
        np.save(path, np.zeros((8, 16), np.float64))
    with pytest.raises(DataMismatch) as raised:
        load_images(path)
    message = str(raised.value)
    assert str(path) in message and "delete it and run `make repair`" in message
    assert message.endswith("(resize writes it again)")
    assert "\n" not in message


# ---------------------------------------------------------------- class names in Markdown

HOSTILE = "<img src=x onerror=alert(1)>"


def test_class_names_are_inert_in_the_model_card_and_the_report(tmp_path):
    from mobileclf.export.model_card import _data_table, _model
    from mobileclf.markdown import md_text
    from mobileclf.report.blocks import Callout, Section, Table
    from mobileclf.report.render import render_markdown

    splits = pd.DataFrame({"label": [HOSTILE, "b|c"], "set": ["cv", "holdout"]})
    card_table = _data_table(splits)
    assert "<img" not in card_table and "&lt;img src=x onerror=alert(1)&gt;" in card_table
    assert "b\\|c" in card_table  # a table cell, not a column break

    card = SimpleNamespace(
        spec=dict(
            layers=[{"type": "gap"}],
            labels=[HOSTILE, "[x](javascript:alert(1))"],
            arch="m",
            n_classes=2,
            n_params=10,
            generator="g1",
            size=16,
            n_train=4,
            seed=0,
            epochs_run=1,
        ),
        chosen={},
        reduced=False,
    )
    model = "\n".join(_model(card))
    assert "<img" not in model and "[x](javascript" not in model  # no live link
    assert "0: &lt;img" in model and "1: \\[x\\]" in model
    frame = pd.DataFrame({"label": [HOSTILE], "accepted": [3]})
    section = Section("Data", "data", [Table(f"classes: {HOSTILE}", frame, "classes")])
    page = render_markdown("report", Callout(f"best: {HOSTILE}", True), [section], tmp_path)
    assert "<img" not in page
    assert page.count(md_text(HOSTILE)) == 3  # caption, cell, callout


# ---------------------------------------------------------------- config files


def test_config_file_mistakes_name_the_file_and_the_line(tmp_path):
    from mobileclf.workflow.config import ConfigError, read_config_file

    broken = tmp_path / "my.yaml"
    broken.write_text("datasets:\n  x: {demo: true\nresize:\n  sizes: [16]\n")
    with pytest.raises(ConfigError) as raised:
        read_config_file(broken)
    assert str(raised.value).startswith(f"{broken}, line 3, column 7: YAML syntax error:")
    broken.write_text("datasets:\n\tx: 1\n")
    with pytest.raises(ConfigError, match=r"line 2, column 1: .*'\\t'"):
        read_config_file(broken)
    with pytest.raises(ConfigError, match=r"config file .*nope.yaml does not exist"):
        read_config_file(tmp_path / "nope.yaml")
    broken.write_text("- a list\n")
    with pytest.raises(ConfigError, match=r"holds list, not a mapping"):
        read_config_file(broken)


def test_check_config_script_prints_one_line(tmp_path):
    import subprocess
    import sys

    broken = tmp_path / "my.yaml"
    broken.write_text("datasets:\n  x: {demo: true\n")
    script = str(REPO / "scripts" / "check_config.py")
    result = subprocess.run([sys.executable, script, str(broken)], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{broken}, line 3" in result.stderr and len(result.stderr.splitlines()) == 1
    good = subprocess.run(
        [sys.executable, script, str(REPO / "config" / "config.yaml")],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0 and "no problem found" in good.stderr
