"""Bad inputs through Snakemake: a config mistake stops the run, a messy folder runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import one_job_per_cell, run_snakemake, snakemake_command
from helpers import add_images

from mobileclf.data.split import read_table


def test_config_mistake_stops_snakemake_with_a_short_message(tmp_path, tiny_config):
    tiny_config["split"]["foldz"] = 3
    tiny_config["resize"]["sizes"] = [4, 16]
    result = run_snakemake(tmp_path, tiny_config, "-n", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "split.foldz: unknown key; did you mean 'folds'?" in output
    assert "resize.sizes[0]: 4 is too small" in output
    assert "2 problem(s) in the configuration" in output
    assert "$schema" not in output and len(output) < 4000  # no schema dump


@pytest.mark.slow
def test_messy_folder_with_unicode_and_spaces_runs_end_to_end(tmp_path, tiny_config):
    root = tmp_path / "my data" / "données CT"
    for index, label in enumerate(["covid 19 ü", "non covid"]):
        add_images(root / label / "patient 1", 6, index + 1, " slice é.png")
        add_images(root / label, 5, index + 11, " ñ.jpg")
    (root / "non covid" / ".DS_Store").write_bytes(b"\0\1")
    (root / "non covid" / "broken.png").write_bytes(b"")
    (root / "covid 19 ü" / "note.png").write_text("not an image")
    config = tiny_config
    config["datasets"] = {"messy": {"root": str(root), "positive_class": "covid 19 ü"}}
    config["resize"]["sizes"] = [16]
    config["generators"] = {"g1": config["generators"]["g1"]}
    config["training"]["epochs"] = 1
    one_job_per_cell(config)
    run_snakemake(tmp_path, config, "results/messy/selection.json")  # nothing past it is asserted
    results = tmp_path / "results" / "messy"
    assert (results / "labels.txt").read_text(encoding="utf-8") == "covid 19 ü\nnon covid\n"
    rejects = pd.read_csv(results / "tables" / "rejects.csv")
    assert sorted(rejects.path) == [
        "covid 19 ü/note.png",
        "non covid/.DS_Store",
        "non covid/broken.png",
    ]
    splits = read_table(results / "splits.csv")
    assert len(splits) == 22 and splits.path.str.contains("patient 1/img000 slice é.png").any()
    runs = pd.read_csv(results / "tables" / "cv_runs.csv")
    assert (runs.status == "ok").all() and len(runs) == 2
    assert runs.sensitivity.notna().all()
    selection = json.loads((results / "selection.json").read_text())
    assert selection["size"] == 16 and selection["n_folds"] == 2


def test_brace_file_is_rejected_and_config_checks_stop_before_any_job(tmp_path, tiny_config):
    """A ``{wild}.png`` used to stop Snakemake with a WildcardError; it is one rejects.csv
    row now. A layer list Keras cannot build and a positive_class that is not a class stop
    the next run before any job, one line each, and the finished outputs stay."""
    root = tmp_path / "data"
    add_images(root / "a", 6, 1)
    add_images(root / "b", 6, 2)
    (root / "a" / "img000.png").rename(root / "a" / "{wild}.png")
    config = tiny_config
    config["datasets"] = {"braces": {"root": str(root), "positive_class": "b"}}
    run_snakemake(tmp_path, config, "results/braces/splits.csv")
    results = tmp_path / "results" / "braces"
    rejects = pd.read_csv(results / "tables" / "rejects.csv")
    assert rejects.path.tolist() == ["a/{wild}.png"]
    assert "Snakemake reads as a wildcard" in rejects.reason[0]
    assert len(read_table(results / "splits.csv")) == 11
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*.csv")}
    config["datasets"]["braces"]["positive_class"] = "B"
    config["architectures"] = {"flat": {"layers": [{"type": "dropout", "rate": 0.5}]}}
    result = run_snakemake(tmp_path, config, "results/braces/splits.csv", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "architectures.flat.layers[0]: no flatten or gap before the classifier" in output
    assert "datasets.braces.positive_class: 'B' is not a class folder" in output
    assert "did you mean 'b'?" in output
    assert {p.name: p.stat().st_mtime_ns for p in results.glob("*.csv")} == before


def test_yaml_error_in_the_default_config_names_the_file_and_line(tmp_path):
    """Without --configfile the Snakefile reads config/config.yaml (relative to the working
    directory) and names the line of a YAML error; Snakemake's own loader names neither."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("datasets:\n  x: {demo: true\nresize: {}\n")
    command = snakemake_command(tmp_path, [], options=["-n"])
    assert command[-1] == "--configfile"  # no config file: the Snakefile's default is read
    result = subprocess.run(command[:-1], capture_output=True, text=True, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "config/config.yaml, line 3, column 7: YAML syntax error" in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "datasets:\n  x: {demo: true\nresize: {}\n",
            "my.yaml, line 3, column 7: YAML syntax error",
        ),
        (None, "my.yaml does not exist"),
        ("tiny+foldz", "split.foldz: unknown key; did you mean 'folds'?"),
    ],
)
def test_make_run_checks_the_config_file_before_snakemake_reads_it(
    tmp_path, tiny_config, text, expected
):
    """`make run CONFIG=...` (README): Snakemake's own messages for a broken or missing
    --configfile name neither the file nor the line; the check before it does, one line,
    and Snakemake never starts."""
    config = tmp_path / "my.yaml"
    if text == "tiny+foldz":
        tiny_config["split"]["foldz"] = 3
        text = yaml.safe_dump(tiny_config)
    if text is not None:
        config.write_text(text)
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        ["make", "-s", "-C", str(repo), "run", f"CONFIG={config}"],
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and expected in output
    assert "Traceback" not in output and "Building DAG" not in output
    assert "workflow specific profile" not in output  # Snakemake did not start
    # the message (a schema problem: a heading, the key's line, the schema's path), then
    # make's own line naming the failed target
    assert len([line for line in output.splitlines() if line.strip()]) <= 4, output
