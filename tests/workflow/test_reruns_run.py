"""Reruns that do only what an edit changes, and the one recovery command, for real.

Each test copies the session's finished tiny run (conftest.finished_run, mtimes kept),
changes or damages it as a user would, runs Snakemake (not a dry run) and asserts the jobs
that really ran (parsed from Snakemake's own job lines) and the files they left: the
deploy bundle keeps its bytes and timestamps, the tables equal the untouched run's fold by
fold. The recovery command is `make repair`: Snakemake's default target with
--keep-going (Makefile), run here through the same Snakemake command line as every test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_snakemake

pytestmark = pytest.mark.slow

DATASET = "results/tiny"
# what `make repair` adds to the default target (Makefile, target repair)
REPAIR = ("--keep-going",)
# the stages after the selection: an edit that does not change the choice runs none of them
AFTER_SELECTION = {
    "reduction_block",
    "reduction_summary",
    "train_final",
    "convert",
    "add_metadata",
    "verify_export",
    "model_card",
    "mobile_reference_inputs",
    "mobile_camera_inputs",
    "mobile_predict",
    "mobile_tables",
    "mobile_latency",
}
RUN_COLUMNS = ["arch", "generator", "size", "fold", "status", "accuracy", "loss", "epochs_run"]


def copy_run(finished_run, tmp_path: Path) -> tuple[Path, dict]:
    workdir, config = finished_run
    copy = tmp_path / "run"
    shutil.copytree(workdir, copy, symlinks=True, copy_function=shutil.copy2)
    return copy, json.loads(json.dumps(config))


def ran_jobs(result) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job Snakemake started, from its job lines."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in (result.stdout + result.stderr).splitlines():
        words = line.strip().split()
        if len(words) == 2 and words[1].endswith(":") and words[0] in KINDS:
            jobs.append((words[1].rstrip(":"), {}))
        elif line.strip().startswith("wildcards:") and jobs:
            pairs = line.strip().removeprefix("wildcards:").split(",")
            jobs[-1][1].update(p.strip().split("=", 1) for p in pairs)
    return jobs


KINDS = {"rule", "localrule", "checkpoint", "localcheckpoint"}


def rules_of(jobs) -> list[str]:
    return sorted(rule for rule, _ in jobs)


def stamps(workdir: Path, folders=("deploy", "final", "export", "mobile")) -> dict:
    """bytes and mtime of every file after the selection (the deploy bundle included)."""
    files = [p for f in folders for p in (workdir / DATASET / f).rglob("*") if p.is_file()]
    files += [workdir / DATASET / name for name in ("verdict.json", "tables/export.csv")]
    assert len(files) > 20
    return {p.relative_to(workdir): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def tables(workdir: Path) -> dict:
    """What a run concludes, fold by fold (no timings)."""
    results = workdir / DATASET
    summary = pd.read_csv(results / "tables" / "cv_summary.csv")
    return {
        "runs": pd.read_csv(results / "tables" / "cv_runs.csv")[RUN_COLUMNS],
        "summary": summary.drop(columns=["mean_train_seconds"]),
        "choice": json.loads((results / "choice.json").read_text()),
        "export": pd.read_csv(results / "tables" / "export.csv"),
        "mobile": pd.read_csv(results / "tables" / "mobile.csv"),
        "final": {
            k: v
            for k, v in json.loads((results / "final" / "metrics.json").read_text()).items()
            if "seconds" not in k
        },
    }


def assert_same_tables(ours: dict, theirs: dict) -> None:
    for name, value in theirs.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(ours[name], value, obj=name)
        else:
            assert ours[name] == value, name


def test_a_size_that_does_not_win_reruns_only_its_own_jobs(finished_run, tmp_path):
    workdir, config = copy_run(finished_run, tmp_path)
    choice = (workdir / DATASET / "choice.json").read_bytes()
    before = stamps(workdir)
    config["resize"]["sizes"].append(20)
    jobs = ran_jobs(run_snakemake(workdir, config))
    assert (workdir / DATASET / "choice.json").read_bytes() == choice  # 20 px does not win
    generators, folds = sorted(config["generators"]), range(config["split"]["folds"])
    assert sorted((rule, w.get("size")) for rule, w in jobs) == sorted(
        [("resize", "20"), ("check_data", "20"), ("phone_inputs", "20")]
        + [("train_cv", "20")] * len(generators) * len(folds)
        + [("aggregate_cv", None), ("select_config", None), ("report", None), ("all", None)]
    )
    assert not {rule for rule, _ in jobs} & AFTER_SELECTION
    assert stamps(workdir) == before  # the deploy bundle keeps its bytes and timestamps
    summary = pd.read_csv(workdir / DATASET / "tables" / "cv_summary.csv")
    assert sorted(summary["size"].unique()) == [16, 20, 24]
    assert json.loads((workdir / DATASET / "selection.json").read_text())["candidates"] == 6


def test_repair_rebuilds_a_deleted_fold_and_only_what_reads_it(finished_run, tmp_path):
    workdir, config = copy_run(finished_run, tmp_path)
    untouched, before = tables(workdir), stamps(workdir)
    fold = workdir / DATASET / "cv" / "tiny" / "g1" / "24" / "fold1" / "metrics.json"
    fold.unlink()
    # the symptom: its own target up to date, the missing fold was never rebuilt
    jobs = ran_jobs(run_snakemake(workdir, config, *REPAIR))
    assert [(r, w.get("size"), w.get("fold")) for r, w in jobs if r == "train_cv"] == [
        ("train_cv", "24", "1")
    ]
    assert not {rule for rule, _ in jobs} & AFTER_SELECTION
    assert fold.exists()
    assert_same_tables(tables(workdir), untouched)
    assert stamps(workdir) == before


def _garbage(path: Path) -> None:
    path.write_text("garbage\n")


# damaged file, how, the message's words, the files it says to delete, what repair reruns
# besides the check_data jobs that refused it. Garbage labels.txt, garbage and short arrays,
# a deleted deploy file and a deleted prediction run the same way in bench/recovery.py
# (30-60 s each: too slow for the suite's budget).
TAMPERED = {
    "splits": (
        "splits.csv",
        _garbage,
        "splits.csv has no column 'path'",
        ["splits.csv"],
        ["aggregate_cv", "select_config", "split"],
    ),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_repair_after_a_tampered_intermediate_keeps_every_other_result(
    case, finished_run, tmp_path
):
    """The run stops at check_data with the file's message before any job reading it starts
    (nothing removed); after deleting the file as told, the recovery command rebuilds it
    and reruns nothing that read it (same bytes as recorded)."""
    workdir, config = copy_run(finished_run, tmp_path)
    untouched, before = tables(workdir), stamps(workdir)
    name, damage, words, delete, repaired = TAMPERED[case]
    damage(workdir / DATASET / name)
    failed = run_snakemake(workdir, config, check=False)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert words in output and "run `make repair`" in output
    assert "Traceback" not in output
    stopped = rules_of(ran_jobs(failed))
    assert set(stopped) == {"check_data"}  # no reader of the file started
    assert len(list((workdir / DATASET / "cv").rglob("metrics.json"))) == 8
    assert stamps(workdir) == before
    for file in delete:
        (workdir / DATASET / file).unlink()
    jobs = rules_of(ran_jobs(run_snakemake(workdir, config, *REPAIR)))
    # the file rebuilt, the checks that refused it again, the cheap aggregation and selection
    # (Snakemake had planned them behind the training jobs); nothing that read the file
    assert [rule for rule in jobs if rule not in ("check_data", "all")] == repaired
    assert jobs.count("check_data") == len(stopped)
    assert_same_tables(tables(workdir), untouched)
    assert stamps(workdir) == before
