"""Epoch time of one training job before and after the speed changes, one process each.

Variants (each in a fresh process, because TensorFlow reads the allocator setting once):
  keras       Keras' own Adam/SGD, TensorFlow's default CPU allocator (before)
  bfc         Keras' own optimizer, BFC allocator
  fused       fused optimizer kernels, default allocator
  pipeline    fused optimizer kernels + BFC allocator (what train_cv.py runs now)

All variants train the same model on the same fold with the same seed through
mobileclf.train.fit.fit_and_evaluate; only the optimizer object and the allocator differ.

Run:  python bench/epoch_time.py --root ../shared/datasets/sarscov2-ct-mini --sizes 100 300
Prints per variant and size: median epoch seconds (epochs after the first), median step
ms, CPU seconds per step (user + system, less disturbed by other load), system-time
share, peak RSS, and the roofline floor fraction (bench/roofline.py) when --roofline
names its JSON output.
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

VARIANTS = {
    "keras": {"fused": False, "bfc": "0"},
    "bfc": {"fused": False, "bfc": "1"},
    "fused": {"fused": True, "bfc": "0"},
    "pipeline": {"fused": True, "bfc": "1"},
}


def _child(args) -> None:
    """One variant in this process: train, print one JSON line of figures."""
    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    import keras
    import yaml

    from mobileclf.data.datasets import load
    from mobileclf.train import fit  # a module: the "keras" variant swaps its make_optimizer

    if not VARIANTS[args.variant]["fused"]:

        def keras_optimizer(settings):
            if settings.optimizer == "adam":
                return keras.optimizers.Adam(settings.learning_rate)
            return keras.optimizers.SGD(settings.learning_rate, momentum=settings.momentum)

        fit.make_optimizer = keras_optimizer
    epochs: list[float] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epochs.append(time.perf_counter() - self.started)

    original_fit = keras.Model.fit

    def fit_with_clock(self, *positional, callbacks=None, **keywords):
        return original_fit(
            self, *positional, callbacks=[*(callbacks or []), EpochClock()], **keywords
        )

    keras.Model.fit = fit_with_clock
    data_dir = Path(args.data)
    data = load(
        data_dir / "arrays" / f"{args.size}.npy", data_dir / "splits.csv", data_dir / "labels.txt"
    )
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    section = {
        **paper["training"],
        "optimizer": args.optimizer,
        "epochs": args.epochs,
        "learning_rate": 0.001 if args.optimizer == "adam" else 0.01,
    }
    before = os.times()
    result = fit.fit_and_evaluate(
        data.images,
        data.y,
        data.splits["fold0"].to_numpy(),
        data.labels,
        paper["architectures"][args.arch]["layers"],
        paper["generators"]["g1"],
        fit.TrainSettings.from_config(section),
        args.seed,
    )
    after = os.times()
    metrics = result.metrics
    steps = metrics["train_steps"]
    print(
        json.dumps(
            {
                "variant": args.variant,
                "size": args.size,
                "epochs": [round(e, 3) for e in epochs],
                "epoch_seconds": sorted(epochs[1:])[len(epochs[1:]) // 2]
                if len(epochs) > 1
                else epochs[0],
                "step_ms": 1000 * metrics["step_seconds_median"],
                "cpu_per_step_ms": 1000 * ((after[0] - before[0]) + (after[1] - before[1])) / steps,
                "system_share": (after[1] - before[1])
                / max(1e-9, (after[0] - before[0]) + (after[1] - before[1])),
                "peak_rss_mb": metrics["peak_rss_mb"],
                "accuracy": metrics["accuracy"],
                "load": load_average(),
            }
        )
    )


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--root", help="image folder (one sub-folder per class)")
    arguments.add_argument(
        "--data", help="existing results/<dataset> folder with arrays/, splits.csv"
    )
    arguments.add_argument("--sizes", type=int, nargs="+", default=[100, 300])
    arguments.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=["keras", "pipeline"]
    )
    arguments.add_argument("--arch", default="model1")
    arguments.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    arguments.add_argument("--epochs", type=int, default=3)
    arguments.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--roofline", help="JSON written by bench/roofline.py --json")
    arguments.add_argument("--json", help="also write the figures to this file")
    arguments.add_argument("--variant", help=argparse.SUPPRESS)
    arguments.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.variant:
        _child(args)
        return
    if not (args.root or args.data):
        arguments.error("give --root (an image folder) or --data (a prepared results/<dataset>)")
    data = args.data or str(
        prepare_arrays(args.root, args.sizes, 5, Path(tempfile.mkdtemp(prefix="epoch_time_")))
    )
    floors = json.loads(Path(args.roofline).read_text())["floors"] if args.roofline else {}
    rows = []
    print(
        f"{args.arch}, {args.optimizer}, batch 10, fold 0, {args.epochs} epochs,"
        f" {args.threads} thread(s)"
    )
    header = (
        f"{'variant':>9} {'size':>5} {'epoch s':>8} {'step ms':>8} {'cpu/step ms':>11}"
        f" {'sys %':>6} {'peak MB':>8} {'floor %':>8}  load (1/5/15 min)"
    )
    print(header)
    for size in args.sizes:
        for variant in args.variants:
            env = {**os.environ, "TF_CPU_ALLOCATOR_USE_BFC": VARIANTS[variant]["bfc"]}
            command = [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--size",
                str(size),
                "--data",
                data,
                "--arch",
                args.arch,
                "--optimizer",
                args.optimizer,
                "--epochs",
                str(args.epochs),
                "--threads",
                str(args.threads),
                "--seed",
                str(args.seed),
            ]
            done = subprocess.run(command, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{variant} at {size} px failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            floor = floors.get(str(size), {}).get("floor_seconds")
            row["floor_fraction"] = floor / (row["step_ms"] / 1000) if floor else None
            rows.append(row)
            fraction = f"{100 * row['floor_fraction']:7.0f}%" if floor else f"{'-':>8}"
            print(
                f"{variant:>9} {size:>5} {row['epoch_seconds']:>8.2f} {row['step_ms']:>8.1f}"
                f" {row['cpu_per_step_ms']:>11.1f} {100 * row['system_share']:>5.0f}%"
                f" {row['peak_rss_mb']:>8.0f} {fraction}"
                f"  {row['load'].removeprefix('load average ')}",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
