"""Fused dense backward + Adam (mobileclf/train/fused_dense.py) against TensorFlow's kernels.

Two parts, each figure in a fresh process per thread count:

* ``op``: model1's first Dense kernel at each size (N = 32 * ((size - 2) // 2)^2 inputs,
  128 units, batch 10): the op (dX, dW and Adam's update in one pass) against what a
  stock step runs for it (MatMul for dX, MatMul for dW, ResourceApplyAdam). Median ms of
  5 timed calls of 20 iterations each inside one tf.function, and the memory rate each
  reaches at the 24 bytes per parameter an Adam step must move (read W, m, v, write W, m,
  v; dW never stored): the op's floor is that traffic at the machine's bandwidth
  (bench/roofline.py).
* ``job``: one training job per size (bench/spe.py's: fold 0, model1, g1, Adam 0.001,
  batch 10, steps per execution 25) with ``MOBILECLF_FUSED_DENSE`` 1 and 0, repeats
  alternating the order: median ms per step (metrics.json's ``step_seconds_median``),
  CPU ms per step, the job's train seconds, and the test accuracy (equal to rounding: the
  weights differ in the last bits, which training amplifies like any rounding change).

Run:  python bench/fused_dense.py --root ../shared/datasets/sarscov2-ct-mini --sizes 50 100
      python bench/fused_dense.py --part op --sizes 50 100 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_average, prepare_arrays

UNITS, BATCH = 128, 10


def _op_child(sizes: list[int], threads: int) -> None:
    """Time the op and the stock kernels at each size; print one JSON line per size."""
    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf import tf_runtime

    tf_runtime.configure(threads, 0)
    from mobileclf.train import fused_dense

    op = fused_dense.load_op()
    if op is None:
        sys.exit("the fused dense op is not built or does not load (make install)")
    for size in sizes:
        n = 32 * ((size - 2) // 2) ** 2  # model1's flattened conv output
        row = {"size": size, "threads": threads, "parameters": n * UNITS}
        row.update(_time_size(op, n, 20 if size < 200 else 4))
        print(json.dumps(row), flush=True)


def _time_size(op, n: int, iterations: int) -> dict:
    """Median ms per iteration of the op and of the stock kernels on an n x 128 kernel."""
    import time

    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w, m = (tf.Variable(rng.normal(size=(n, UNITS)).astype("f4")) for _ in range(2))
    v = tf.Variable(rng.uniform(1e-6, 1e-3, (n, UNITS)).astype("f4"))
    x = tf.constant(rng.normal(size=(BATCH, n)).astype("f4"))
    dz = tf.constant(rng.normal(size=(BATCH, UNITS)).astype("f4"))
    adam = dict(beta1_power=0.9, beta2_power=0.999, beta1=0.9, beta2=0.999)
    adam.update(lr=tf.constant(1e-3, tf.float32), epsilon=tf.constant(1e-7, tf.float32))

    @tf.function
    def fused(steps):
        for _ in tf.range(steps):
            dx = op(x=x, dz=dz, var=w.handle, m=m.handle, v=v.handle, **adam)
        return dx

    @tf.function
    def stock(steps):
        for _ in tf.range(steps):
            dx = tf.matmul(dz, w, transpose_b=True)
            grad = tf.matmul(x, dz, transpose_a=True)
            tf.raw_ops.ResourceApplyAdam(var=w.handle, m=m.handle, v=v.handle, grad=grad, **adam)
        return dx

    times: dict[str, list[float]] = {"fused": [], "stock": []}
    for function in (fused, stock):
        function(tf.constant(1))
    for _ in range(5):
        for name, function in (("fused", fused), ("stock", stock)):
            start = time.perf_counter()
            function(tf.constant(iterations))
            times[name].append((time.perf_counter() - start) / iterations)
    return {f"{name}_ms": 1000 * statistics.median(t) for name, t in times.items()}


def _op_part(args) -> list[dict]:
    print(f"op alone: model1's first Dense kernel, {UNITS} units, batch {BATCH}; {load_average()}")
    print(f"{'size':>5} {'thr':>4} {'params':>10} {'fused ms':>9} {'stock ms':>9} {'speed-up':>9}"
          f" {'fused GB/s':>11} {'stock GB/s':>11}")  # fmt: skip
    rows = []
    for threads in args.threads:
        command = [sys.executable, __file__, "--op-child", str(threads), "--sizes"]
        command += [str(size) for size in args.sizes]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"op part, {threads} thread(s), failed:\n{done.stderr[-3000:]}")
        for line in done.stdout.strip().splitlines():
            row = json.loads(line)
            gb = 24 * row["parameters"] / 1e9
            print(
                f"{row['size']:>5} {threads:>4} {row['parameters']:>10} {row['fused_ms']:>9.2f}"
                f" {row['stock_ms']:>9.2f} {row['stock_ms'] / row['fused_ms']:>8.2f}x"
                f" {gb / row['fused_ms'] * 1000:>11.1f} {gb / row['stock_ms'] * 1000:>11.1f}",
                flush=True,
            )
            rows.append(row)
    return rows


def _job_part(args) -> list[dict]:
    if not (args.root or args.data or args.random):
        sys.exit("the job part needs --root (an image folder), --data or --random N")
    data = args.data or ""
    if args.root and not data:
        data = str(prepare_arrays(args.root, args.sizes, 5, Path(tempfile.mkdtemp(prefix="fd_"))))
    print(f"\ntraining jobs: model1, g1, Adam, batch 10, {args.epochs} epochs, steps per execution"
          f" 25, medians of {args.repeats}; {load_average()}")  # fmt: skip
    print(f"{'size':>5} {'thr':>4} {'fused':>6} {'step ms':>8} {'cpu ms':>7} {'train s':>8}"
          f" {'accuracy':>9}")  # fmt: skip
    rows = []
    for size in args.sizes:
        for threads in args.threads:
            runs: dict[str, list[dict]] = {"1": [], "0": []}
            for repeat in range(args.repeats):
                for flag in ("1", "0") if repeat % 2 == 0 else ("0", "1"):
                    runs[flag].append(_job(args, data, size, threads, flag))
            for flag in ("1", "0"):
                got = runs[flag]
                print(
                    f"{size:>5} {threads:>4} {'on' if flag == '1' else 'off':>6}"
                    f" {statistics.median(r['step_ms'] for r in got):>8.2f}"
                    f" {statistics.median(r['cpu_per_step_ms'] for r in got):>7.2f}"
                    f" {statistics.median(r['train_seconds'] for r in got):>8.2f}"
                    f" {statistics.median(r['accuracy'] for r in got):>9.3f}",
                    flush=True,
                )
                rows += [{**r, "threads": threads, "fused": flag == "1"} for r in got]
    return rows


def _job(args, data: str, size: int, threads: int, flag: str) -> dict:
    command = [sys.executable, str(REPO / "bench" / "spe.py"), "--size", str(size), "--cap", "25"]
    command += ["--epochs", str(args.epochs), "--threads", str(threads)]
    command += ["--random", str(args.random)] if args.random else ["--data", data]
    environment = {**os.environ, "MOBILECLF_FUSED_DENSE": flag}
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode:
        sys.exit(f"{size} px, fused={flag} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--part", choices=["op", "job", "both"], default="both")
    arguments.add_argument("--root", help="image folder (one sub-folder per class)")
    arguments.add_argument("--data", help="existing results/<dataset> folder with arrays/")
    arguments.add_argument("--random", type=int, default=0, help="N random images instead")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100])
    arguments.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    arguments.add_argument("--epochs", type=int, default=5)
    arguments.add_argument("--repeats", type=int, default=2)
    arguments.add_argument("--json", help="also write every figure to this file")
    arguments.add_argument("--op-child", type=int, help=argparse.SUPPRESS)
    args = arguments.parse_args()
    if args.op_child is not None:
        _op_child(args.sizes, args.op_child)
        return
    rows = {}
    if args.part in ("op", "both"):
        rows["op"] = _op_part(args)
    if args.part in ("job", "both"):
        rows["job"] = _job_part(args)
    print(load_average())
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
