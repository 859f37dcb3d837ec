"""Where one training step of model1 spends its time, piece by piece, against each floor.

Why (issue 19, "the remaining step time"): roofline.py bounds a whole step and
epoch_time.py times whole steps; neither says which part of a step is far from its floor,
i.e. which change would pay. Model: model1 of config/paper.yaml with g3's normalisation,
the pipeline's fused Adam, batch 10, float32, Keras ``model.fit``, 1 and 2 threads.

Method: the TensorFlow profiler (tf.profiler.experimental) traces ``--steps`` fit steps
on one fixed batch; its xplane.pb is read with TensorFlow's xplane_pb2 and each op event
("scope/name:Type") is grouped by name: conv forward (conv_0, maxpool_1), dense forward
(flatten_2 .. probabilities), dW (gradient_tape/ Conv2DBackpropFilter, BiasAddGrad, each
Dense gradient's MatMul_1: TF's _MatMulGrad makes dX as MatMul with transpose_b and dW as
MatMul_1 with transpose_a), dX (every other gradient_tape/ op: dense dX MatMuls, ReluGrad,
MaxPoolGrad, loss gradient; the conv's dX is never computed), optimizer update
(fused_adam/). other/overhead = mean traced step (multi_step_on_iterator wall time) - those
five: "other ops" (input normalisation, loss, metric) plus executor and dispatch. With 2
threads ops also run side by side (inter-op pool): time during which k ops run is split
equally among them. Tracing costs a few us per op: the untraced step is shown beside it.
Augmentation and input pipeline are timed alone (median of repeats): augment_fn (the
composed affine transform + brightness g3 runs in tf.data; the project no longer uses
Keras preprocessing layers) on one batch, and one epoch of the un-augmented tf.data
pipeline per batch. Both run on tf.data's threads beside the step; "step, g3 data" (fit
on the real g3 dataset) shows how much of them is not hidden.

Floors split roofline.py's counts per group: forward reads the weights (4 B/parameter)
and writes and reads activations (8 B/element); dW writes the gradients (4 B/parameter);
dX reads the weights (not the first layer's) and writes and reads activation gradients
(8 B/element); Adam moves OPTIMIZER_BYTES per parameter; FLOPs 2·B·MACs per layer for
forward, dW and dX (not the first layer); floor = max(FLOPs / matmul rate, bytes / memory
bandwidth), both measured here per thread count. Augmentation (a float32 read + write of
the batch) and pipeline (uint8 read + float32 write) floors count bytes only.

Run:  python bench/step_profile.py [--sizes 50 100 300] [--threads 1 2] [--random]
Each thread count runs in a fresh process (TensorFlow fixes its pools once). Images are
read in place from --root (default ../shared/datasets/sarscov2-ct-mini) and resized with
Pillow (bilinear stretch, as the workflow); --random uses random uint8 images instead.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import roofline
from roofline import REPO, load_average

ITEMS = ["conv forward", "dense forward", "dW", "dX", "optimizer update"]
STEPS = ["step, traced", "step, fixed batch", "step, g3 data"]
ROWS = [*ITEMS, "other/overhead", "other ops", *STEPS[:2], "augmentation (g3)", "input pipeline"]
ROWS += STEPS[2:]
FORWARD = {"conv forward": ("/conv_0", "/maxpool_1")}
FORWARD["dense forward"] = ("/flatten_2", "/dense_3", "/dropout_4", "/probabilities")


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``repeats`` calls after one warm-up call (tracing)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def load_images(root: str | None, size: int, count: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (n, size, size, 3), labels): class folders under ``root``, or random."""
    rng = np.random.default_rng(0)
    if root is None:
        return rng.integers(0, 256, (count, size, size, 3), np.uint8), rng.integers(0, 2, count)
    from PIL import Image

    images, labels = [], []
    for label, folder in enumerate(sorted(p for p in Path(root).iterdir() if p.is_dir())):
        for path in sorted(folder.iterdir()):
            with Image.open(path) as image:
                resized = image.convert("RGB").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(resized))
            labels.append(label)
    return np.stack(images), np.asarray(labels)


def piece_floors(model, batch: int, size: int, ceiling: dict) -> dict:
    """Floor seconds of each piece (module docstring), from the model's own layers."""
    layers = [layer for layer in model.layers if type(layer).__name__ in ("Conv2D", "Dense")]
    conv, dense = layers[0], layers[1:]

    def act(layer) -> int:
        return int(np.prod(layer.output.shape[1:]))

    def macs(layer) -> int:
        kernel = layer.kernel.shape
        return int(np.prod(kernel)) * (act(layer) // kernel[-1])

    pool = act(model.get_layer("maxpool_1"))
    params = sum(layer.count_params() for layer in layers)
    dense_params = sum(layer.count_params() for layer in dense)
    dense_acts = sum(act(layer) for layer in dense)
    pixels = batch * size * size * 3
    conv_flops, dense_flops = 2 * batch * macs(conv), 2 * batch * sum(map(macs, dense))
    cost = {  # (FLOPs, bytes)
        "conv forward": (conv_flops, 4 * conv.count_params() + 8 * batch * (act(conv) + pool)),
        "dense forward": (dense_flops, 4 * dense_params + 8 * batch * dense_acts),
        "dW": (conv_flops + dense_flops, 4 * params),
        "dX": (dense_flops, 4 * dense_params + 8 * batch * (act(conv) + pool + dense_acts)),
        "optimizer update": (0, roofline.OPTIMIZER_BYTES["adam"] * params),
        "augmentation (g3)": (0, 8 * pixels),
        "input pipeline": (0, 5 * pixels),
    }
    return {
        name: max(flops / ceiling["flops"], nbytes / ceiling["bandwidth"])
        for name, (flops, nbytes) in cost.items()
    }


def op_group(event: str) -> str | None:
    """The group of one traced op event "scope/name:Type" (module docstring), or None."""
    name, _, kind = event.rpartition(":")
    if "/" not in name or "::" in event:
        return None  # executor, iterator and Python-side events
    if "fused_adam" in name or kind.startswith("ResourceApply"):
        return "optimizer update"
    if "gradient_tape/" in name:
        weights = "BackpropFilter" in kind or kind == "BiasAddGrad"
        return "dW" if weights or name.endswith("/MatMul_1") else "dX"
    for group, scopes in FORWARD.items():
        if any(scope in name for scope in scopes):
            return group
    return "other ops"


def shared_seconds(intervals: list[tuple[int, int, str]]) -> dict:
    """Seconds per key from (start ps, end ps, key) op events, where time during which
    k ops run at once (inter-op parallelism) is split equally among them."""
    edges = sorted(
        [(start, 1, k) for start, _, k in intervals] + [(e, -1, k) for _, e, k in intervals]
    )
    seconds, active = defaultdict(float), defaultdict(int)
    previous = edges[0][0] if edges else 0
    for time_ps, change, key in edges:
        running = sum(active.values())
        for name, count in active.items():
            seconds[name] += (time_ps - previous) * 1e-12 * count / running if count else 0.0
        active[key] += change
        previous = time_ps
    return seconds


def traced_step(model, data, steps: int) -> dict:
    """Per-step seconds of each op group and the step's wall time, from a profiler trace;
    "ops" holds the four slowest ops (scope shortened) with their per-step seconds."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    intervals, step_walls = [], []
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if name == "multi_step_on_iterator":
                    step_walls.append(event.duration_ps * 1e-12)
                elif op_group(name) is not None:
                    start = line.timestamp_ns * 1000 + event.offset_ps
                    intervals.append((start, start + event.duration_ps, name))
    per_op = {name: value / steps for name, value in shared_seconds(intervals).items()}
    seconds = dict.fromkeys([*ITEMS, "other ops"], 0.0)
    for name, value in per_op.items():
        seconds[op_group(name)] += value
    slowest = sorted(per_op, key=per_op.get, reverse=True)[:4]
    shorten = re.compile(r"StatefulPartitionedCall/|classifier(_\d+)?/")
    seconds["ops"] = {shorten.sub("", name): per_op[name] for name in slowest}
    seconds["step, traced"] = sum(step_walls) / len(step_walls)  # mean: as the groups
    seconds["other/overhead"] = seconds["step, traced"] - sum(seconds[i] for i in ITEMS)
    return seconds


def fit_step_seconds(model, data, steps: int | None = None) -> float:
    """Median train-step seconds of ``model.fit`` (first step, with tracing, left out)."""
    from mobileclf.train.step_timer import step_timer

    timer = step_timer()
    model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    return float(np.median(timer.durations[1:]))


def profile_size(size: int, args, ceiling: dict, g3: dict, layers: list[dict]) -> dict:
    """Every group's measured and floor seconds at one size (this process's threads)."""
    import keras
    import tensorflow as tf

    from mobileclf.train import fast_optimizers
    from mobileclf.train.architectures import build_model
    from mobileclf.train.augmentation import augment_fn, input_normalization
    from mobileclf.train.fit import _dataset

    keras.backend.clear_session()  # free the previous size's model and optimizer
    images, labels = load_images(None if args.random else args.root, size)
    scale, mean, std = input_normalization(g3, images)
    model = build_model(layers, size, 2, scale, mean, std)
    loss = "sparse_categorical_crossentropy"  # and the metric, as the training jobs
    model.compile(optimizer=fast_optimizers.adam(0.001), loss=loss, metrics=["accuracy"])
    batch, steps = args.batch, args.steps if size < 300 else max(5, args.steps // 3)
    raw, y = tf.constant(images[:batch], tf.float32), tf.constant(labels[:batch])
    fixed = tf.data.Dataset.from_tensors((raw, y)).repeat()
    seconds = {"step, fixed batch": fit_step_seconds(model, fixed, steps=steps + 1)}
    seconds.update(traced_step(model, fixed, steps))
    augment = augment_fn(g3, args.seed)  # its random generator: created once, outside
    augment_batch = tf.function(lambda images: augment(images, y)[0])
    seconds["augmentation (g3)"] = median_seconds(lambda: augment_batch(raw), steps)

    def pipeline_epoch():
        return sum(1 for _ in _dataset(images, labels, batch, args.seed, shuffle=True))

    seconds["input pipeline"] = median_seconds(pipeline_epoch, 3) / -(-len(images) // batch)
    data = _dataset(images, labels, batch, args.seed, augment_fn(g3, args.seed), shuffle=True)
    seconds["step, g3 data"] = fit_step_seconds(model, data)
    floors = piece_floors(model, batch, size, ceiling)
    rates = {"matmul_gflops": ceiling["flops"] / 1e9, "bandwidth_gbs": ceiling["bandwidth"] / 1e9}
    floor = roofline.floor_seconds(roofline.step_cost(layers, size, 2, batch, "adam"), rates)
    floors.update(dict.fromkeys(STEPS, floor))
    return dict(size=size, threads=args.threads, images=len(images), seconds=seconds, floors=floors)


def measure_ceiling(threads: int) -> dict:
    """Bytes/s (best of NumPy copy/triad on 1..threads threads) and TF matmul FLOP/s."""
    import tensorflow as tf

    bandwidth = max(max(roofline.memory_bandwidth(t).values()) for t in sorted({1, threads}))
    a, b = tf.random.uniform((n := 2048, n)), tf.random.uniform((n, n))
    rate = 2 * n**3 / median_seconds(lambda: (a @ b).numpy(), 5)
    return {"bandwidth": bandwidth * 1e9, "flops": rate}


def child(args) -> None:
    """One thread count in this process: ceilings, then every size; JSON to args.json."""
    import yaml

    sys.path.insert(0, str(REPO / "scripts"))
    from mobileclf.tf_runtime import configure

    configure(args.threads, args.seed)  # the workflow's pools: intra N, inter min(2, N)
    config = yaml.safe_load(Path(args.config).read_text())
    layers = config["architectures"]["model1"]["layers"]
    ceiling = measure_ceiling(args.threads)
    g3 = config["generators"]["g3"]
    results = [profile_size(size, args, ceiling, g3, layers) for size in args.sizes]
    Path(args.json).write_text(json.dumps({"ceiling": ceiling, "results": results}))


def markdown(results: list[dict]) -> str:
    """Rows = items, columns = size x threads, cells 'measured / floor ms (ratio)'."""
    columns = [f"{r['size']} px {r['threads']}t" for r in results]
    lines = ["| item | " + " | ".join(columns) + " |", "| --- |" + " --- |" * len(columns)]
    for row in ROWS:
        cells = []
        for result in results:
            ms, floor = 1000 * result["seconds"][row], result["floors"].get(row)
            ratio = f" / {1000 * floor:.2g} ({ms / (1000 * floor):.1f}x)" if floor else ""
            cells.append(f"{ms:.3g}{ratio}")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    arguments.add_argument("--root", default=str(REPO.parent / "shared/datasets/sarscov2-ct-mini"))
    arguments.add_argument("--random", action="store_true", help="random uint8 images")
    arguments.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300])
    arguments.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    arguments.add_argument("--batch", type=int, default=10)
    arguments.add_argument("--steps", type=int, default=20, help="traced steps (300 px: / 3)")
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--json", help="write all figures to this JSON file")
    arguments.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = arguments.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.child:
        args.threads = args.threads[0]
        return child(args)
    print(f"before: {load_average()}")
    runs = []
    for threads in args.threads:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "result.json"
            # the same arguments; the later --threads and --json win in the child
            command = [sys.executable, __file__, *sys.argv[1:], "--child"]
            command += ["--threads", str(threads), "--json", str(out)]
            subprocess.run(command, check=True)
            runs.append(json.loads(out.read_text()))
        ceiling = runs[-1]["ceiling"]
        print(
            f"{threads} thread(s): bandwidth {ceiling['bandwidth'] / 1e9:.1f} GB/s,"
            f" matmul {ceiling['flops'] / 1e9:.1f} GFLOP/s; {load_average()}"
        )
    results = sorted(
        (r for run in runs for r in run["results"]), key=lambda r: (r["size"], r["threads"])
    )
    print("\nms per step, measured / floor (measured ÷ floor); other ops: ops in no group\n")
    print(markdown(results))
    for r in results:
        ops = ", ".join(f"{name} {1000 * value:.2f}" for name, value in r["seconds"]["ops"].items())
        print(f"slowest ops (ms per step), {r['size']} px {r['threads']}t: {ops}")
    print(f"\nafter: {load_average()}")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
