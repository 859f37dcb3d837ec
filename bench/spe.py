"""Steps per execution: one training job with one train step per call vs several.

Keras' ``steps_per_execution`` runs several train steps per call of the traced train
function; mobileclf.train.finetune compiles every training with up to
``MAX_STEPS_PER_EXECUTION`` (its batches per epoch at most). At small image sizes a
step's arithmetic is a few ms, and the per-call overhead (Python loop, callbacks,
function call and iterator hand-over) a noticeable part of it.

Each (size, cap, repeat) runs in a fresh process: fold 0 of the data (or random images
with --random), the paper's model1 and g1, Adam 0.001, batch 10, through the project's
own mobileclf.train.fit.fit_and_evaluate with ``finetune.MAX_STEPS_PER_EXECUTION`` set to
the cap (1: one step per call, as before). Repeats alternate the caps, so a change in the
machine's load hits both alike.

Run:  python bench/spe.py --root ../shared/datasets/sarscov2-ct-mini --sizes 50 100
Prints per size and cap: steps per call used, median ms per step (metrics.json's
``step_seconds_median``: the per-step figure of calls after the first), the first
step's ms (``first_step_seconds``: tracing; with several steps per call an estimate),
CPU ms per step (the whole fit_and_evaluate call's CPU seconds / steps), the job's
``train_seconds`` (all epochs: steps, tracing, validation), medians of the repeats, and
whether the trained weights equal the cap-1 run's bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_average, prepare_arrays


def _inputs(args):
    """(images, y, roles, labels) of fold 0 of --data, or --random images (seeded)."""
    import numpy as np

    if args.random:
        rng = np.random.default_rng(args.seed)
        images = rng.integers(0, 256, (args.random, args.size, args.size, 3), dtype=np.uint8)
        y = rng.integers(0, 2, args.random)
        n_val = n_test = args.random // 10
        roles = np.array(["train"] * (args.random - n_val - n_test) + ["val"] * n_val)
        return images, y, np.concatenate([roles, ["test"] * n_test]), ["a", "b"]
    from mobileclf.data.datasets import load

    data_dir = Path(args.data)
    data = load(
        data_dir / "arrays" / f"{args.size}.npy", data_dir / "splits.csv", data_dir / "labels.txt"
    )
    return data.images, data.y, data.splits["fold0"].to_numpy(), data.labels


def _child(args) -> None:
    """One job in this process: train, print one JSON line of figures."""
    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    import keras
    import yaml

    from mobileclf.train import finetune
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    finetune.MAX_STEPS_PER_EXECUTION = args.cap
    if args.jit_compile:  # XLA: Keras' "auto" leaves it off on a CPU-only machine
        compile_ = keras.Model.compile

        def with_xla(model, *positional, **named):
            return compile_(model, *positional, **{**named, "jit_compile": True})

        keras.Model.compile = with_xla
    images, y, roles, labels = _inputs(args)
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    section = {**paper["training"], "optimizer": "adam", "learning_rate": 0.001}
    section.update(epochs=args.epochs, batch_size=10)
    keras.utils.set_random_seed(args.seed)
    before = sum(os.times()[:2])
    result = fit_and_evaluate(
        images,
        y,
        roles,
        labels,
        paper["architectures"][args.arch]["layers"],
        paper["generators"][args.generator],
        TrainSettings.from_config(section),
        args.seed,
    )
    cpu = sum(os.times()[:2]) - before
    metrics = result.metrics
    digest = hashlib.sha256()
    for weight in result.model.get_weights():
        digest.update(weight.tobytes())
    steps_per_epoch = -(-metrics["n_train"] // 10)
    row = {
        "size": args.size,
        "cap": args.cap,
        "spe": min(args.cap, steps_per_epoch),
        "step_ms": 1000 * metrics["step_seconds_median"],
        "first_step_ms": 1000 * metrics["first_step_seconds"],
        "cpu_per_step_ms": 1000 * cpu / metrics["train_steps"],
        "train_seconds": metrics["train_seconds"],
        "train_steps": metrics["train_steps"],
        "accuracy": metrics["accuracy"],
        "weights": digest.hexdigest()[:16],
        "load": load_average(),
    }
    print(json.dumps(row))


def _run(args, data: str, size: int, cap: int) -> dict:
    command = [sys.executable, __file__, "--size", str(size), "--cap", str(cap)]
    command += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
    command += ["--seed", str(args.seed), "--arch", args.arch, "--generator", args.generator]
    command += ["--random", str(args.random)] if args.random else ["--data", data]
    command += ["--jit-compile"] if args.jit_compile else []
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"cap {cap} at {size} px failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _summary(rows: list[dict], reference: dict) -> str:
    """One printed line: medians over the repeats of one (size, cap)."""
    first = rows[0]
    step = statistics.median(r["step_ms"] for r in rows)
    cpu = statistics.median(r["cpu_per_step_ms"] for r in rows)
    first_step = statistics.median(r["first_step_ms"] for r in rows)
    seconds = statistics.median(r["train_seconds"] for r in rows)
    same = all(r["weights"] == reference["weights"] for r in rows)
    return (
        f"{first['size']:>5} {first['cap']:>4} {first['spe']:>4} {step:>8.2f} {first_step:>9.0f}"
        f" {cpu:>8.2f}"
        f" {seconds:>8.2f} {first['train_steps']:>6} {'yes' if same else 'NO':>5}"
    )


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--root", help="image folder (one sub-folder per class)")
    arguments.add_argument("--data", help="existing results/<dataset> folder with arrays/")
    arguments.add_argument("--random", type=int, default=0, help="N random images instead")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    arguments.add_argument("--caps", type=int, nargs="+", default=[1, 25])
    arguments.add_argument("--repeats", type=int, default=2)
    arguments.add_argument("--arch", default="model1")
    arguments.add_argument("--generator", default="g1")
    arguments.add_argument("--epochs", type=int, default=5)
    arguments.add_argument("--threads", type=int, default=1)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--json", help="also write every run's figures to this file")
    arguments.add_argument("--jit-compile", action="store_true", help="compile with XLA")
    arguments.add_argument("--size", type=int, help=argparse.SUPPRESS)
    arguments.add_argument("--cap", type=int, help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.cap is not None:
        _child(args)
        return
    if not (args.root or args.data or args.random):
        arguments.error("give --root (an image folder), --data or --random N")
    data = args.data or ""
    if args.root and not data:
        workdir = Path(tempfile.mkdtemp(prefix="spe_"))
        data = str(prepare_arrays(args.root, args.sizes, 5, workdir))
    print(
        f"{args.arch}, {args.generator}, Adam, batch 10, {args.epochs} epochs,"
        f" {args.threads} thread(s), medians of {args.repeats} runs; {load_average()}"
    )
    print(
        f"{'size':>5} {'cap':>4} {'spe':>4} {'step ms':>8} {'first ms':>9} {'cpu ms':>8}"
        f" {'train s':>8} {'steps':>6} {'same':>5}"
    )
    everything = []
    for size in args.sizes:
        rows: dict[int, list[dict]] = {cap: [] for cap in args.caps}
        for repeat in range(args.repeats):
            order = args.caps if repeat % 2 == 0 else args.caps[::-1]
            for cap in order:
                rows[cap].append(_run(args, data, size, cap))
        reference = rows[args.caps[0]][0]
        for cap in args.caps:
            print(_summary(rows[cap], reference), flush=True)
        everything += [row for cap in args.caps for row in rows[cap]]
    print(load_average())
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
