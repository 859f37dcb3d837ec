"""The published procedure and this pipeline, side by side, on one dataset and one grid.

One invocation runs the same grid (sizes, folds, generators, architectures, epochs, batch
size, optimizer) two ways on this machine:
  (b) this pipeline: a temporary config, ``snakemake --cores N`` in a temporary folder
      (ingest, split, resize, every training job, aggregation, selection; not the final
      model and export, which the published grid timing does not include either);
  (a) the published procedure (bench/published_procedure.py) on the pipeline's folds:
      JPEG folders per size and fold, ImageDataGenerator.flow_from_directory, a fresh
      model per run, all in one process with N threads.
It prints both wall times and their ratio, where the time goes per size and per size x
generator (job seconds of the pipeline's Snakemake benchmark files against the published
runs' seconds, so a regression shows where it is), the mean ± std accuracy tables side by
side, and per training job images/s, median step time, the share of the job's time spent
outside training steps (start-up, graph building, data loading, validation, evaluation)
and peak memory. Load averages are printed with every timing: on a busy machine the
figures are not comparable with a quiet one's.

Run (a reduced grid; the issue's full target is the second line):
  python bench/compare.py --root ../shared/datasets/sarscov2-ct-mini --sizes 50 100 \\
      --folds 3 --generators g1 g3 --archs model1 --epochs 5
  python bench/compare.py --root ../shared/datasets/sarscov2-ct-mini --sizes 50 100 \\
      --folds 5 --generators g1 g2 g3 g4 --archs model1 model2 --epochs 15
Generators and architectures are taken by name from --config (default config/paper.yaml).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, SNAKEMAKE, load_average, snakemake_command, snakemake_env


def grid_config(args) -> dict:
    """The workflow config for the requested grid (and the published procedure's grid)."""
    paper = yaml.safe_load(Path(args.config).read_text())
    return {
        "datasets": {"bench": {"root": str(Path(args.root).resolve())}},
        "seed": args.seed,
        "split": {**paper.get("split", {}), "folds": args.folds},
        "resize": {"sizes": sorted(args.sizes)},
        "generators": {name: paper["generators"][name] for name in args.generators},
        "architectures": {name: paper["architectures"][name] for name in args.archs},
        "training": {
            "epochs": args.epochs,
            "batch_size": args.batch,
            "optimizer": args.optimizer,
            "learning_rate": args.learning_rate,
            "batch_folds_below": args.batch_folds_below,
        },
    }


def children_cpu_seconds() -> float:
    """User + system CPU seconds of all finished child processes (and theirs) so far.

    CPU time is far less disturbed than wall time when other work shares the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snakemake_startup_seconds() -> float:
    """Wall seconds of ``snakemake --version``: what every Snakemake invocation pays first.

    Mostly Python imports (~1.5 s), unless an installed executor plugin probes a service
    that does not answer: the SLURM plugin runs ``scontrol show config`` at import, which
    waits ~9 s where SLURM's client tools exist but its controller is down.
    """
    started = time.perf_counter()
    subprocess.run([SNAKEMAKE, "--version"], env=snakemake_env(), capture_output=True, check=True)
    return time.perf_counter() - started


def run_pipeline(config: dict, workdir: Path, cores: int) -> float:
    """Whole workflow through Snakemake; returns wall seconds."""
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    command = snakemake_command(
        workdir,
        configfile,
        # the CV grid and its selection: what the published procedure's Step 3 produces
        "results/bench/tables/cv_summary.csv",
        "results/bench/selection.json",
        cores=cores,
    )
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=snakemake_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (workdir / "snakemake.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        sys.exit(f"pipeline failed, see {workdir / 'snakemake.log'}:\n{done.stderr[-3000:]}")
    return seconds


def _benchmark(path: Path) -> dict:
    with path.open() as handle:
        return next(csv.DictReader(handle, delimiter="\t"))


def pipeline_jobs(workdir: Path) -> list[dict]:
    """One record per training (fold): metrics.json figures + Snakemake's benchmark file.

    A one-fold job (train_cv) is timed by its benchmark file. An all-folds job
    (train_cv_folds) has one benchmark file for its folds; each fold's row then takes its
    own share from metrics.json (the first fold's includes the process start-up).
    """
    jobs = []
    benchmarks = workdir / "benchmarks"
    for path in sorted((workdir / "results" / "bench" / "cv").glob("*/*/*/fold*/metrics.json")):
        metrics = json.loads(path.read_text())
        arch, generator, size, fold = path.relative_to(workdir / "results" / "bench" / "cv").parts[
            :4
        ]
        one_fold = benchmarks / "train_cv" / "bench" / arch / generator / size / f"{fold}.tsv"
        if one_fold.exists():
            benchmark = _benchmark(one_fold)
            seconds, cpu_seconds = float(benchmark["s"]), float(benchmark["cpu_time"])
            peak = benchmark["max_rss"]
        else:
            benchmark = _benchmark(
                benchmarks / "train_cv_folds" / "bench" / arch / generator / f"{size}.tsv"
            )
            seconds, cpu_seconds = metrics["process_seconds"], metrics["process_cpu_seconds"]
            peak = benchmark["max_rss"]  # the job's peak, over all its folds
        jobs.append(
            {
                "arch": arch,
                "generator": generator,
                "size": int(size),
                "fold": int(fold.removeprefix("fold")),
                "accuracy": metrics["accuracy"],
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "step_seconds_median": metrics["step_seconds_median"],
                "images_per_second": metrics["images_per_second"],
                # whole process (interpreter, TF import, tracing, data, validation, test) vs steps
                "outside_steps_share": 1 - metrics["step_seconds_total"] / seconds,
                "peak_rss_mb": float(peak) if peak != "NA" else metrics["peak_rss_mb"],
            }
        )
    return jobs


# per-size jobs besides training: the pipeline's prep of one size (the published
# procedure's is writing that size's JPEG fold folders)
SIZE_PREP_RULES = ("resize", "check_data", "phone_inputs")


def pipeline_seconds_by_size(workdir: Path) -> dict[tuple[int, str], float]:
    """Job seconds (Snakemake benchmark files) per (size, generator), and per (size, rule)
    for the size's other jobs (SIZE_PREP_RULES). All-folds jobs count once, so folds
    trained as towers (which share one training span) are not counted k times."""
    benchmarks = workdir / "benchmarks"
    totals: dict[tuple[int, str], float] = {}

    def add(size: str, generator: str, path: Path) -> None:
        key = (int(size.removesuffix(".tsv")), generator)
        totals[key] = totals.get(key, 0.0) + float(_benchmark(path)["s"])

    for path in benchmarks.glob("train_cv/bench/*/*/*/fold*.tsv"):
        add(path.parent.name, path.parents[1].name, path)
    for path in benchmarks.glob("train_cv_folds/bench/*/*/*.tsv"):
        add(path.name, path.parent.name, path)
    for rule in SIZE_PREP_RULES:
        for path in benchmarks.glob(f"{rule}/bench/*.tsv"):
            add(path.name, rule, path)
    return totals


def size_table(published: dict, pipeline: dict[tuple[int, str], float]) -> list[str]:
    """Seconds per size and per size x generator, both methods, with their ratio."""
    runs: dict[tuple[int, str], float] = {}
    for run in published["runs"]:
        key = (int(run["size"]), run["generator"])
        runs[key] = runs.get(key, 0.0) + run["seconds"]
    for size, seconds in published["folder_seconds"].items():
        runs[(int(size), "jpeg_folders")] = seconds
    keys = sorted(set(runs) | set(pipeline))
    rows = [(*key, runs.get(key, 0.0), pipeline.get(key, 0.0)) for key in keys]
    for size in sorted({size for size, _ in keys}):
        mine = [row for row in rows if row[0] == size]
        rows.append((size, "all", sum(r[2] for r in mine), sum(r[3] for r in mine)))
    header = ("size", "generator/job", "published s", "pipeline s", "ratio")
    lines = [" ".join(f"{h:>{w}}" for h, w in zip(header, (5, 13, 12, 11, 6), strict=True))]
    for size, generator, theirs, ours in sorted(rows, key=lambda r: (r[0], r[1] == "all")):
        ratio = f"{ours / theirs:6.2f}" if theirs and ours else f"{'-':>6}"
        lines.append(f"{size:>5} {generator:>13} {theirs:>12.1f} {ours:>11.1f} {ratio}")
    return lines


def run_published(args, config: dict, workdir: Path) -> tuple[float, dict]:
    """The published procedure in its own process (stock optimizer, default allocator)."""
    grid = workdir / "grid.json"
    grid.write_text(json.dumps(config))
    out = workdir / "published.json"
    command = [
        sys.executable,
        str(Path(__file__).resolve().parent / "published_procedure.py"),
        "--root",
        config["datasets"]["bench"]["root"],
        "--grid",
        str(grid),
        "--splits",
        str(workdir / "results" / "bench" / "splits.csv"),
        "--out",
        str(out),
        "--threads",
        str(args.cores),
        "--seed",
        str(args.seed),
        "--workdir",
        str(workdir / "published_folders"),
    ]
    env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": "0"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (workdir / "published.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        sys.exit(
            f"published procedure failed, see {workdir / 'published.log'}:\n{done.stderr[-3000:]}"
        )
    return seconds, json.loads(out.read_text())


def accuracy_table(published: list[dict], pipeline: list[dict]) -> list[str]:
    """Mean ± std accuracy (%) per arch × generator × size, both methods in one table."""

    def summary(jobs, key):
        values = 100 * np.array(
            [j["accuracy"] for j in jobs if (j["arch"], j["generator"], j["size"]) == key]
        )
        return f"{values.mean():6.2f} (+- {values.std(ddof=1) if len(values) > 1 else 0:5.2f})"

    keys = sorted({(j["arch"], j["generator"], j["size"]) for j in pipeline + published})
    lines = [f"{'arch':>8} {'gen':>4} {'size':>5} {'published':>18} {'pipeline':>18}"]
    lines += [
        f"{a:>8} {g:>4} {s:>5} {summary(published, (a, g, s)):>18}"
        f" {summary(pipeline, (a, g, s)):>18}"
        for a, g, s in keys
    ]
    return lines


def job_table(method: str, jobs: list[dict]) -> list[str]:
    lines = []
    for j in sorted(jobs, key=lambda j: (j["arch"], j["generator"], j["size"], j["fold"])):
        lines.append(
            f"{method:>9} {j['arch']:>8} {j['generator']:>4} {j['size']:>5} {j['fold']:>4}"
            f" {j['seconds']:>8.1f} {j['images_per_second']:>8.1f}"
            f" {1000 * j['step_seconds_median']:>8.1f}"
            f" {100 * j['outside_steps_share']:>8.0f}% {j['peak_rss_mb']:>8.0f}"
            f" {j['cpu_seconds']:>7.1f}"
        )
    return lines


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--root", required=True, help="image folder, one sub-folder per class")
    arguments.add_argument(
        "--config",
        default=str(REPO / "config" / "paper.yaml"),
        help="where generators and architectures are looked up by name",
    )
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    arguments.add_argument("--folds", type=int, default=5)
    arguments.add_argument("--generators", nargs="+", default=["g1", "g2", "g3", "g4"])
    arguments.add_argument("--archs", nargs="+", default=["model1", "model2"])
    arguments.add_argument("--epochs", type=int, default=15)
    arguments.add_argument("--batch", type=int, default=10)
    arguments.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    arguments.add_argument("--learning-rate", type=float, default=0.001)
    arguments.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--batch-folds-below",
        type=int,
        default=150,
        help="the pipeline's training.batch_folds_below (default: the config default; "
        "0: one job per fold)",
    )
    arguments.add_argument("--workdir", help="keep everything here (default: a temporary folder)")
    arguments.add_argument("--json", help="also write every figure to this JSON file")
    args = arguments.parse_args()
    config = grid_config(args)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="compare_")).resolve()
    if (workdir / "results").exists():
        sys.exit(
            f"{workdir} holds results of an earlier run (Snakemake would skip the jobs): "
            "choose a new --workdir or delete that one"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    print(
        f"grid: sizes {args.sizes}, {args.folds} folds, generators {args.generators},"
        f" archs {args.archs},"
        f" {args.epochs} epochs, batch {args.batch}, {args.optimizer} lr {args.learning_rate};"
        f" all folds in one job below {args.batch_folds_below} px;"
        f" {args.cores} cores; workdir {workdir}"
    )
    startup_seconds = snakemake_startup_seconds()
    load_start = load_average()
    cpu_start = children_cpu_seconds()
    pipeline_seconds = run_pipeline(config, workdir, args.cores)
    cpu_mid = children_cpu_seconds()
    load_mid = load_average()
    pipeline = pipeline_jobs(workdir)
    by_size = pipeline_seconds_by_size(workdir)
    published_seconds, published = run_published(args, config, workdir)
    cpu_end = children_cpu_seconds()
    load_end = load_average()
    pipeline_cpu, published_cpu = cpu_mid - cpu_start, cpu_end - cpu_mid
    figures = {
        "grid": config,
        "pipeline_seconds": pipeline_seconds,
        "snakemake_startup_seconds": startup_seconds,
        "published_seconds": published_seconds,
        "pipeline_cpu_seconds": pipeline_cpu,
        "published_cpu_seconds": published_cpu,
        "load": [load_start, load_mid, load_end],
        "pipeline_jobs": pipeline,
        "pipeline_seconds_by_size": [
            {"size": size, "generator": generator, "seconds": seconds}
            for (size, generator), seconds in sorted(by_size.items())
        ],
        "published": published,
    }
    # saved before anything is printed: the runs take long and must not be lost
    for path in {workdir / "compare.json", Path(args.json or workdir / "compare.json")}:
        path.write_text(json.dumps(figures, indent=2))
    lines = [
        f"pipeline (snakemake --cores {args.cores}): {pipeline_seconds:8.1f} s"
        f"   [{load_start} -> {load_mid}]",
        f"  of which Snakemake start-up {startup_seconds:.1f} s (snakemake --version, measured"
        " just before)",
        f"published procedure:            {published_seconds:8.1f} s   [{load_mid} -> {load_end}]",
        f"  of which TF import {published['import_seconds']:.1f} s, JPEG fold folders "
        + ", ".join(f"{size} px {s:.1f} s" for size, s in published["folder_seconds"].items()),
        f"ratio pipeline / published: {pipeline_seconds / published_seconds:.3f}"
        f"  (published / pipeline: {published_seconds / pipeline_seconds:.2f}x)",
        f"CPU seconds (user + system, all processes): pipeline {pipeline_cpu:.1f},"
        f" published {published_cpu:.1f}, ratio {pipeline_cpu / published_cpu:.3f}",
        "",
        "where the time goes: job seconds per size and generator, and per size's other jobs"
        " (the pipeline's resize, check_data and phone_inputs; the published JPEG fold"
        f" folders); the pipeline's jobs run {args.cores} at a time, so its sums exceed its"
        " wall time",
        *size_table(published, by_size),
        "",
        "accuracy on the test part of each fold, % mean (+- std over folds)",
        *accuracy_table(published["runs"], pipeline),
        "",
        "per training job (published: one process for all runs, so its start-up and JPEG"
        " folders count once, outside these rows; pipeline folds trained as towers share one"
        " training span, so their rows overlap: the table above counts their job once)",
        f"{'method':>9} {'arch':>8} {'gen':>4} {'size':>5} {'fold':>4} {'job s':>8} {'img/s':>8}"
        f" {'step ms':>8} {'outside':>9} {'peak MB':>8} {'cpu s':>7}",
        *job_table("published", published["runs"]),
        *job_table("pipeline", pipeline),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
