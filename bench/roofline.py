"""This machine's ceiling for one training step, and how close the training jobs get.

Measures memory bandwidth (NumPy copy and triad on arrays far larger than any cache, on
1 and on N threads) and TensorFlow's float32 matmul throughput, then bounds the step time
of an architecture from the config (default: model1 of config/paper.yaml, Adam, batch 10)
from below with a roofline: ``max(FLOPs / matmul rate, bytes moved / bandwidth)``.

Counted per step (float32, batch B, every conv/dense layer):
  FLOPs   forward 2·B·MACs, weight gradient the same, input gradient the same except for
          the first layer (the image needs none).
  bytes   per parameter: forward read 4, input-gradient read 4 (not first layer),
          gradient write 4, optimizer update (Adam: read w, m, v, g and write w, m, v = 28;
          SGD 12; SGD with momentum 20); per activation element 16 (written and read
          forward, its gradient written and read backward).
For model1 both are dominated by the first Dense kernel (≈ all parameters).

Run:  python bench/roofline.py [--sizes 50 100 300] [--metrics 'results/*/cv/**/metrics.json']
With --metrics, the measured median step times of those training jobs (per fold: a
towers job's shared step / its k folds) are set against the floor (measured / floor;
1.0 would be at the machine's limit), with the median per size.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OPTIMIZER_BYTES = {"adam": 28, "sgd": 12, "sgd_momentum": 20}


def _best(function, repeats: int) -> float:
    """Fastest of ``repeats`` runs: the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def memory_bandwidth(threads: int, mebibytes: int = 256, repeats: int = 5) -> dict:
    """GB/s of copy (a = b: 2 arrays moved) and triad (a = b + s·c, as NumPy's two passes
    c·s → a, a + b → a: 5 arrays moved), each split over ``threads`` threads."""
    n = mebibytes * (1 << 20) // 8
    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    chunks = [slice(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
    pool = ThreadPoolExecutor(threads)

    def parallel(kernel):
        return lambda: list(pool.map(kernel, chunks))

    def copy(part):
        np.copyto(a[part], b[part])

    def triad(part):
        np.multiply(c[part], 3.0, out=a[part])
        np.add(a[part], b[part], out=a[part])

    array_bytes = n * 8
    result = {
        "copy_gbs": 2 * array_bytes / _best(parallel(copy), repeats) / 1e9,
        "triad_gbs": 5 * array_bytes / _best(parallel(triad), repeats) / 1e9,
    }
    pool.shutdown()
    return result


def matmul_gflops(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """TensorFlow float32 square matmul throughput with ``threads`` intra-op threads."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    x = tf.random.uniform((n, n))
    y = tf.random.uniform((n, n))
    (x @ y).numpy()  # warm-up: thread pool, oneDNN primitives
    return 2 * n**3 / _best(lambda: (x @ y).numpy(), repeats) / 1e9


def fused_adam_seconds(parameters: int, threads: int, repeats: int = 5) -> float:
    """Measured time of one ResourceApplyAdam over ``parameters`` floats (the update alone)."""
    import tensorflow as tf

    variables = [tf.Variable(tf.zeros(parameters)) for _ in range(3)]
    grad = tf.ones(parameters)

    def step():
        tf.raw_ops.ResourceApplyAdam(
            var=variables[0].handle,
            m=variables[1].handle,
            v=variables[2].handle,
            beta1_power=0.9,
            beta2_power=0.999,
            lr=0.001,
            beta1=0.9,
            beta2=0.999,
            epsilon=1e-7,
            grad=grad,
        )
        variables[0][0].numpy()

    step()
    return _best(step, repeats)


def step_cost(layers: list[dict], size: int, n_classes: int, batch: int, optimizer: str) -> dict:
    """Parameters, FLOPs and minimum bytes moved by one training step (see module doc)."""
    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf.train.architectures import build_model

    model = build_model(layers, size, n_classes)
    params = flops = parameter_bytes = activations = 0
    first = True
    for layer in model.layers:
        output = int(np.prod(layer.output.shape[1:]))
        kind = type(layer).__name__
        if kind in ("Conv2D", "Dense"):
            count = layer.count_params()
            kernel = int(np.prod(layer.kernel.shape))
            macs = kernel * (output // layer.kernel.shape[-1])  # per output position
            flops += 2 * batch * macs * (2 if first else 3)
            parameter_bytes += count * ((4 if first else 8) + 4 + OPTIMIZER_BYTES[optimizer])
            params += count
            activations += output
            first = False
        elif kind == "MaxPooling2D":
            activations += output
    return {
        "size": size,
        "params": params,
        "gflop": flops / 1e9,
        "gbytes": (parameter_bytes + 16 * batch * activations) / 1e9,
    }


def floor_seconds(cost: dict, ceiling: dict) -> float:
    """Roofline minimum of one step: compute-bound or bandwidth-bound, whichever is slower."""
    return max(cost["gflop"] / ceiling["matmul_gflops"], cost["gbytes"] / ceiling["bandwidth_gbs"])


def measured_steps(pattern: str) -> list[dict]:
    """Median step seconds of training jobs from their metrics.json files, per fold.

    A towers job (metrics.json ``towers: k``) records the shared step of its k folds,
    which does k folds' work: its per-fold step is that / k (``fold_step``).
    """
    rows = []
    for path in sorted(glob.glob(pattern, recursive=True)):
        metrics = json.loads(Path(path).read_text())
        if metrics.get("step_seconds_median"):
            towers = int(metrics.get("towers") or 1)
            rows.append(
                {
                    "path": path,
                    "size": int(metrics["size"]),
                    "arch": metrics.get("arch"),
                    "towers": towers,
                    "step": metrics["step_seconds_median"],
                    "fold_step": metrics["step_seconds_median"] / towers,
                }
            )
    return rows


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def machine_ceiling(threads: int) -> dict:
    """Bandwidth (best of copy/triad over 1..threads threads) and matmul rate."""
    bandwidth = {t: memory_bandwidth(t) for t in sorted({1, threads})}
    return {
        "threads": threads,
        "bandwidth": bandwidth,
        "bandwidth_gbs": max(max(v.values()) for v in bandwidth.values()),
        "matmul_gflops": matmul_gflops(threads),
    }


def main() -> None:
    import yaml

    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    arguments.add_argument("--arch", default="model1")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300])
    arguments.add_argument("--batch", type=int, default=10)
    arguments.add_argument("--classes", type=int, default=2)
    arguments.add_argument("--optimizer", choices=sorted(OPTIMIZER_BYTES), default="adam")
    arguments.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    arguments.add_argument("--metrics", help="glob of metrics.json files to set against the floor")
    arguments.add_argument("--json", help="also write all figures to this JSON file")
    args = arguments.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    layers = yaml.safe_load(Path(args.config).read_text())["architectures"][args.arch]["layers"]

    print(f"before: {load_average()}")
    ceiling = machine_ceiling(args.threads)
    for threads, figures in ceiling["bandwidth"].items():
        print(
            f"memory bandwidth, {threads} thread(s): copy {figures['copy_gbs']:.1f} GB/s,"
            f" triad {figures['triad_gbs']:.1f} GB/s"
        )
    print(
        f"TensorFlow matmul 2048x2048 float32, {args.threads} thread(s):"
        f" {ceiling['matmul_gflops']:.1f} GFLOP/s"
    )
    print(f"\n{args.arch}, batch {args.batch}, {args.optimizer}: roofline floor per training step")
    print(
        f"{'size':>5} {'params':>12} {'GFLOP':>7} {'GB':>7} {'floor ms':>9} {'bound':>9}"
        f" {'fused Adam ms':>14}"
    )
    floors = {}
    for size in args.sizes:
        cost = step_cost(layers, size, args.classes, args.batch, args.optimizer)
        floor = floor_seconds(cost, ceiling)
        bound = (
            "memory"
            if cost["gbytes"] / ceiling["bandwidth_gbs"] >= cost["gflop"] / ceiling["matmul_gflops"]
            else "compute"
        )
        adam = fused_adam_seconds(cost["params"], args.threads)
        floors[size] = {**cost, "floor_seconds": floor, "bound": bound, "fused_adam_seconds": adam}
        print(
            f"{size:>5} {cost['params']:>12,} {cost['gflop']:>7.2f} {cost['gbytes']:>7.2f}"
            f" {1000 * floor:>9.1f} {bound:>9} {1000 * adam:>14.1f}"
        )
    rows = measured_steps(args.metrics) if args.metrics else []
    rows = [row for row in rows if row["arch"] in (None, args.arch)]
    if rows:
        print(f"\nmeasured {args.arch} training jobs (median step per fold) against the floor")
        for row in rows:
            floor = floors.get(row["size"], {}).get("floor_seconds")
            if floor:
                towers = f" ({row['towers']} towers)" if row["towers"] > 1 else ""
                print(
                    f"{row['fold_step'] * 1000:8.1f} ms{towers}  floor {floor * 1000:6.1f} ms"
                    f"  measured/floor {row['fold_step'] / floor:.2f}  {row['path']}"
                )
        for size in sorted({row["size"] for row in rows} & set(floors)):
            steps = [row["fold_step"] for row in rows if row["size"] == size]
            median = statistics.median(steps)
            print(
                f"{size:>5} px: median of {len(steps)} jobs {median * 1000:.1f} ms per fold-step,"
                f" {median / floors[size]['floor_seconds']:.2f}x the floor"
            )
    print(f"after: {load_average()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"ceiling": ceiling, "floors": floors, "measured": rows, "load": load_average()},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
