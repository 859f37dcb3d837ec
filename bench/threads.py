"""Threads per training job: two 1-thread jobs side by side, or 2-thread jobs one by one.

The workflow gives a training job 1 thread below 100 px, 2 from 100 px, 4 from 200 px
(``mobileclf.workflow.resources.train_threads``). On a machine that is full (a grid has
many more jobs than cores) what counts is throughput: do two 1-thread jobs side by side
finish two jobs sooner than two 2-thread jobs one after the other? They share the memory
bandwidth, so the step profile's single-job figures (bench/step_profile.py: 2 threads
speed a step up 1.3-1.5x) cannot answer it.

Each round runs, on a 2-core machine, (a) two jobs of ``bench/spe.py``'s child (the
project's fit_and_evaluate, model1, g1, Adam, batch 10, default steps per execution) with
1 thread each at the same time, then (b) the same two jobs with 2 threads one after the
other; rounds alternate the order. Printed per size: the wall time of the two jobs
(process start-up included, as in a grid), their summed ``train_seconds`` (a) or summed
(b), and the median ms per step. The jobs differ only in their seed.

    python bench/threads.py --random 250 --sizes 50 100 --epochs 15 --rounds 2

Random images (``--random N``, seeded) are enough: a step's cost does not depend on the
pixels. Also ``--jit-compile``: the same with Keras' ``jit_compile=True`` (XLA), which
Keras leaves off on a CPU-only machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average

SPE = Path(__file__).resolve().parent / "spe.py"


def _job(args, size: int, threads: int, seed: int) -> subprocess.Popen:
    command = [sys.executable, str(SPE), "--random", str(args.random), "--size", str(size)]
    command += ["--cap", "25", "--epochs", str(args.epochs), "--threads", str(threads)]
    command += ["--seed", str(seed)] + (["--jit-compile"] if args.jit_compile else [])
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _figures(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        sys.exit(f"a job failed (exit {process.returncode}); rerun bench/spe.py to see why")
    return json.loads(out.strip().splitlines()[-1])


def _side_by_side(args, size: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    jobs = [_job(args, size, 1, seed) for seed in (1, 2)]
    rows = [_figures(job) for job in jobs]
    return time.perf_counter() - start, rows


def _one_by_one(args, size: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    rows = [_figures(_job(args, size, 2, seed)) for seed in (1, 2)]
    return time.perf_counter() - start, rows


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--random", type=int, default=250, help="N random images")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    arguments.add_argument("--epochs", type=int, default=15)
    arguments.add_argument("--rounds", type=int, default=2)
    arguments.add_argument("--jit-compile", action="store_true", help="XLA (jit_compile=True)")
    args = arguments.parse_args()
    print(
        f"{args.random} random images, {args.epochs} epochs, {args.rounds} rounds;", load_average()
    )
    print(f"{'size':>5} {'mode':<22} {'wall s':>7} {'train s':>8} {'step ms':>8}")
    for size in args.sizes:
        results = {"2 x 1 thread, together": [], "2 x 2 threads, in turn": []}
        for round_ in range(args.rounds):
            runs = [
                ("2 x 1 thread, together", _side_by_side),
                ("2 x 2 threads, in turn", _one_by_one),
            ]
            for name, run in runs if round_ % 2 == 0 else runs[::-1]:
                results[name].append(run(args, size))
        for name, rounds in results.items():
            wall = statistics.median(w for w, _ in rounds)
            train = statistics.median(sum(r["train_seconds"] for r in rows) for _, rows in rounds)
            step = statistics.median(r["step_ms"] for _, rows in rounds for r in rows)
            print(f"{size:>5} {name:<22} {wall:>7.1f} {train:>8.1f} {step:>8.2f}", flush=True)
    print(load_average())


if __name__ == "__main__":
    main()
