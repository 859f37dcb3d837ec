"""All folds of one CV cell: one after the other (sequential) vs side by side (towers).

Both modes run what an all-folds job (train_cv_folds) runs, mobileclf.train.cv.train_folds,
each in a fresh process with the same data, seeds and threads; ``sequential`` sets
mobileclf.train.towers.TOWERS_BELOW to 0, ``towers`` above the size. The clocks start
after TensorFlow's start-up (paid once per job either way) and stop when every fold's
metrics.json is written, so they include tracing, validation and testing.

Run:  python bench/towers.py --root ../shared/datasets/sarscov2-ct-mini --sizes 16 32 50
Prints per size, generator and mode: wall and CPU seconds of the job's folds, seconds
per epoch (training span / epochs: for sequential the folds' training seconds summed,
for towers the shared span), ms per fold-step (median step; a towers step is k folds'
steps, so its median / k), peak RSS, and whether every fold's accuracy and loss equal
the sequential run's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_average, prepare_arrays

MODES = ("sequential", "towers")


def _child(args) -> None:
    """One mode, size and generator in this process: train all folds, print one JSON line."""
    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    import yaml

    from mobileclf.data.datasets import load
    from mobileclf.train import towers
    from mobileclf.train.cv import Cell, FoldOutputs, train_folds

    towers.TOWERS_BELOW = 0 if args.mode == "sequential" else 10_000
    data_dir = Path(args.data)
    data = load(
        data_dir / "arrays" / f"{args.size}.npy", data_dir / "splits.csv", data_dir / "labels.txt"
    )
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    training = {**paper["training"], "optimizer": "adam", "learning_rate": 0.001}
    training["epochs"] = args.epochs
    cell = Cell(
        args.arch,
        args.generator,
        paper["architectures"][args.arch],
        paper["generators"][args.generator],
        training,
        1,
    )
    out = Path(tempfile.mkdtemp(prefix=f"towers_{args.mode}_"))
    n_folds = sum(column.startswith("fold") for column in data.splits.columns)
    folds = [
        FoldOutputs(f, args.seed + f, 0, out / f"m{f}.json", out / f"h{f}.csv")
        for f in range(n_folds)
    ]
    before, started = os.times(), time.perf_counter()
    train_folds(data, cell, folds, device)
    wall, after = time.perf_counter() - started, os.times()
    metrics = [json.loads(fold.metrics.read_text()) for fold in folds]
    shared = metrics[0].get("towers", 1)
    train_span = (
        max(m["train_seconds"] for m in metrics)
        if shared > 1
        else sum(m["train_seconds"] for m in metrics)
    )
    steps = sorted(m["step_seconds_median"] / shared for m in metrics)
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": (after[0] - before[0]) + (after[1] - before[1]),
                "epoch_seconds": train_span / args.epochs,
                "fold_step_ms": 1000 * steps[len(steps) // 2],
                "peak_rss_mb": max(m["peak_rss_mb"] for m in metrics),
                "numbers": [(m["accuracy"], m["loss"], m["epochs_run"]) for m in metrics],
                "load": load_average(),
            }
        )
    )


def _run(args, mode: str, size: int, generator: str, data: str) -> dict:
    command = [sys.executable, __file__, "--mode", mode, "--size", str(size), "--data", data]
    for name in ("arch", "epochs", "threads", "seed"):
        command += [f"--{name}", str(getattr(args, name))]
    done = subprocess.run(
        [*command, "--generator", generator], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"{mode} at {size} px failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--root", help="image folder (one sub-folder per class)")
    arguments.add_argument("--data", help="existing results/<dataset> with arrays/, splits.csv")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 50])
    arguments.add_argument("--generators", nargs="+", default=["g1"])
    arguments.add_argument("--folds", type=int, default=5)
    arguments.add_argument("--arch", default="model1")
    arguments.add_argument("--epochs", type=int, default=3)
    arguments.add_argument("--threads", type=int, default=1, help="1: as the workflow < 100 px")
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--json", help="also write the figures to this file")
    for hidden in ("mode", "generator"):
        arguments.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    arguments.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.mode:
        _child(args)
        return
    if not (args.root or args.data):
        arguments.error("give --root (an image folder) or --data (a prepared results/<dataset>)")
    data = args.data or str(
        prepare_arrays(args.root, args.sizes, args.folds, Path(tempfile.mkdtemp(prefix="towers_")))
    )
    print(f"{args.arch}, adam, batch 10, {args.epochs} epochs, {args.threads} thread(s)")
    print(
        f"{'size':>4} {'gen':>3} {'mode':>10} {'wall s':>7} {'cpu s':>7} {'epoch s':>8}"
        f" {'fold-step ms':>12} {'peak MB':>8} {'speed-up':>8} same  load (1/5/15 min)"
    )
    rows = []
    for size in args.sizes:
        for generator in args.generators:
            base = None
            for mode in MODES:
                row = _run(args, mode, size, generator, data)
                row.update(size=size, generator=generator, mode=mode)
                base = base or row
                row["speedup"] = base["wall"] / row["wall"]
                row["same"] = row["numbers"] == base["numbers"]
                rows.append(row)
                print(
                    f"{size:>4} {generator:>3} {mode:>10} {row['wall']:>7.2f} {row['cpu']:>7.2f}"
                    f" {row['epoch_seconds']:>8.3f} {row['fold_step_ms']:>12.2f}"
                    f" {row['peak_rss_mb']:>8.0f} {row['speedup']:>7.2f}x"
                    f" {'yes' if row['same'] else 'NO':>4}"
                    f"  {row['load'].removeprefix('load average ')}",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
