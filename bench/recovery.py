"""Every recovery case of issue 17 on copies of one finished run: damage a file, run as a
user would (the run stops with the file's message), delete the file as the message says,
run the recovery command (`make repair`: the default target with --keep-going), and
report the jobs that ran, the seconds it took and whether the tables equal the untouched
run's. The cheap cases are also tests (tests/workflow/test_reruns_run.py).

    python bench/recovery.py --run /path/to/finished/workdir --config config.yaml

``--run``: a finished run of this workflow (e.g. of .test/config/config.yaml); it is
copied, never changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from snakemake_cli import snakemake_command, snakemake_env

RUN_COLUMNS = ["arch", "generator", "size", "fold", "status", "accuracy", "loss", "epochs_run"]
KINDS = {"rule", "localrule", "checkpoint", "localcheckpoint"}


def jobs_of(output: str) -> list[str]:
    return sorted(
        words[1].rstrip(":")
        for words in (line.strip().split() for line in output.splitlines())
        if len(words) == 2 and words[0] in KINDS and words[1].endswith(":")
    )


def tables(results: Path) -> dict:
    return {
        "cv_runs": pd.read_csv(results / "tables/cv_runs.csv")[RUN_COLUMNS],
        "cv_summary": pd.read_csv(results / "tables/cv_summary.csv").drop(
            columns=["mean_train_seconds"]
        ),
        "export": pd.read_csv(results / "tables/export.csv"),
        "mobile": pd.read_csv(results / "tables/mobile.csv"),
        "choice": json.loads((results / "choice.json").read_text()),
    }


def same(ours: dict, theirs: dict) -> bool:
    return all(
        ours[k].equals(v) if isinstance(v, pd.DataFrame) else ours[k] == v
        for k, v in theirs.items()
    )


def _garbage(path: Path) -> None:
    path.write_text("garbage\n")


def _short_array(path: Path) -> None:
    np.save(path, np.load(path)[:-1])


# case: (file under results/<dataset>/, how it is damaged, files the message says to delete)
CASES = {
    "garbage splits.csv": ("splits.csv", _garbage, ["splits.csv"]),
    "garbage labels.txt": ("labels.txt", _garbage, ["labels.txt"]),
    "garbage array": ("arrays/{size}.npy", _garbage, ["arrays/{size}.npy"]),
    "short array": ("arrays/{size}.npy", _short_array, ["arrays/{size}.npy", "splits.csv"]),
    "deleted metrics.json": ("cv/{cell}/fold0/metrics.json", None, []),
    "deleted deploy file": ("deploy/model_int8.tflite", None, []),
    "deleted prediction": ("mobile/predictions/keras.csv", None, []),
}


def snakemake(workdir: Path, config: Path, *options: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    result = subprocess.run(
        snakemake_command(workdir, config, options=options),
        capture_output=True,
        text=True,
        cwd=workdir,
        env=snakemake_env(),
    )
    return result.returncode, result.stdout + result.stderr, time.perf_counter() - start


def run_case(name: str, source: Path, config: Path, dataset: str, scratch: Path) -> dict:
    workdir = scratch / name.replace(" ", "_")
    shutil.copytree(source, workdir, symlinks=True, copy_function=shutil.copy2)
    results = workdir / "results" / dataset
    choice = json.loads((results / "choice.json").read_text())
    cell = f"{choice['arch']}/{choice['generator']}/{choice['size']}"
    untouched = tables(results)
    target, damage, delete = CASES[name]
    path = results / target.format(size=choice["size"], cell=cell)
    if damage is None:
        path.unlink()
        stopped = ""
    else:
        damage(path)
        code, output, _ = snakemake(workdir, config)
        stopped = next((line for line in output.splitlines() if "make repair" in line), "")
        assert code != 0, f"{name}: the run did not stop"
        for file in delete:
            (results / file.format(size=choice["size"])).unlink()
    code, output, seconds = snakemake(workdir, config, "--keep-going")
    return {
        "case": name,
        "message": stopped.strip()[:160],
        "repair_ok": code == 0,
        "repair_seconds": round(seconds, 1),
        "jobs": jobs_of(output),
        "tables_equal": code == 0 and same(tables(results), untouched),
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--run", type=Path, required=True)
    arguments.add_argument("--config", type=Path, required=True)
    arguments.add_argument("--dataset", default="tiny")
    arguments.add_argument("--cases", nargs="*", default=list(CASES))
    args = arguments.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.cases:
            row = run_case(name, args.run, args.config.resolve(), args.dataset, Path(scratch))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
