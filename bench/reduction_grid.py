"""Benchmark the parameter-reduction stage on a folder of labelled images.

Runs the workflow twice in a work directory: first up to selection.json (one
architecture × generator × size, the CV grid's 5 folds; not part of the figure), then
the reduction stage, which is timed. Prints the dry-run time of the reduction DAG, the
wall time, trainings per minute and the chosen cell. The paper's grid (Muneeb et al. (2022),
section 2.3) is the default: filters 1..19 × neurons 1..19 × 5 folds = 1,805 trainings
at size 50, 15 epochs, model 1 of Table 11, SGD 0.01, batch 10.

    .venv/bin/python bench/reduction_grid.py /work/shared/datasets/sarscov2-ct-mini
    .venv/bin/python bench/reduction_grid.py DATA --step 6 --block-size 8  # 4 x 4 sample
    .venv/bin/python bench/reduction_grid.py DATA --images 750  # the issue's data volume

``--images N`` above the folder's count adds flipped and rotated copies of its images
(in the work directory) until there are N. A copy is grouped with its original, so the
folds never put an image in training and its copy in testing. The timing is that of N
images; the accuracies are not the original folder's (test folds hold copies too).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from PIL import Image
from snakemake_cli import snakemake_command, snakemake_env

# copies for --images: each original gets at most one copy per transform
TRANSFORMS = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
)
COPY_GROUP_PATTERN = r"^(.*?)(?:--copy\d+)?\.[^.]+$"


MODEL1 = [
    {"type": "conv", "filters": 32, "kernel": 3},
    {"type": "maxpool", "pool": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 128},
    {"type": "dropout", "rate": 0.5},
]
GENERATORS = {
    "g1": {"rescale": 1 / 255},
    "g3": {
        "rescale": 1 / 255,
        "rotation_range": 40,
        "brightness_range": [0.2, 1.0],
        "horizontal_flip": True,
        "vertical_flip": True,
        "fill_mode": "nearest",
        "featurewise_center": True,
        "featurewise_std_normalization": True,
    },
}


def with_copies(data: Path, target: Path, count: int) -> Path:
    """A class-folder tree in ``target`` holding ``data``'s images plus transformed copies
    up to ``count`` images in all (classes filled in proportion)."""
    originals = sorted(p for p in data.glob("*/*") if p.is_file())
    if count <= len(originals):
        return data
    for path in originals:
        link = target / path.parent.name / path.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(path.resolve())
    for index in range(count - len(originals)):
        source = originals[index % len(originals)]
        round_ = index // len(originals)
        copy = target / source.parent.name / f"{source.stem}--copy{round_}{source.suffix}"
        if not copy.exists():
            with Image.open(source) as image:
                image.transpose(TRANSFORMS[round_ % len(TRANSFORMS)]).save(copy)
    return target


def config_for(args, data: Path) -> dict:
    return {
        "datasets": {
            "bench": {
                "root": str(data),
                "ingest": {"group_pattern": COPY_GROUP_PATTERN, "follow_symlinks": True},
            }
        },
        "seed": 42,
        "split": {"folds": args.folds, "holdout_fraction": 0.15, "val_fraction": 0.10},
        "resize": {"sizes": [args.size]},
        "generators": {args.generator: GENERATORS[args.generator]},
        "architectures": {"model1": {"layers": MODEL1}},
        "training": {
            "epochs": args.epochs,
            "batch_size": 10,
            "optimizer": "sgd",
            "learning_rate": 0.01,
        },
        "reduction": {
            "filters": {"from": 1, "to": args.filters, "step": args.step},
            "neurons": {"from": 1, "to": args.neurons, "step": args.step},
            "block_size": args.block_size,
            "tolerance": 1.0,
        },
    }


def snakemake(workdir: Path, cores: int, target: str, *options: str) -> subprocess.CompletedProcess:
    command = snakemake_command(
        workdir, workdir / "config.yaml", target, cores=cores, options=options
    )
    env = snakemake_env()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, env=env)
    if result.returncode:
        sys.exit(f"snakemake failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("data", help="folder with one sub-folder of images per class")
    parser.add_argument("--workdir", default="bench-reduction", help="results go here")
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--filters", type=int, default=19, help="filters 1..N")
    parser.add_argument("--neurons", type=int, default=19, help="neurons 1..M")
    parser.add_argument(
        "--step", type=int, default=1, help="every k-th value: a sample of the grid"
    )
    parser.add_argument("--block-size", type=int, default=19)
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="g1")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--images", type=int, default=0, help="add transformed copies up to this many images"
    )
    args = parser.parse_args()

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data = with_copies(Path(args.data).resolve(), workdir / "data", args.images)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config_for(args, data), sort_keys=False))
    started = time.perf_counter()
    snakemake(workdir, args.cores, "results/bench/selection.json")
    print(f"CV grid up to selection.json: {time.perf_counter() - started:.0f} s (not counted)")

    started = time.perf_counter()
    dry = snakemake(workdir, args.cores, "results/bench/reduction.json", "-n")
    blocks = dry.stdout.count("rule reduction_block:")
    print(
        f"dry run of the reduction DAG: {time.perf_counter() - started:.1f} s, {blocks} block jobs"
    )

    started = time.perf_counter()
    snakemake(workdir, args.cores, "results/bench/reduction.json")
    wall = time.perf_counter() - started
    result = json.loads((workdir / "results/bench/reduction.json").read_text())
    images = len((workdir / "results/bench/splits.csv").read_text().splitlines()) - 1
    rows = len(range(1, args.filters + 1, args.step))
    columns = len(range(1, args.neurons + 1, args.step))
    trainings = rows * columns * args.folds
    cpu = sum(
        float(line.split("\t")[-1])
        for path in (workdir / "benchmarks/reduction_block").rglob("*.tsv")
        for line in path.read_text().splitlines()[1:]
    )
    print(f"images: {images}, size {args.size}, {args.epochs} epochs, generator {args.generator}")
    print(f"grid: {rows} x {columns} cells x {args.folds} folds = {trainings} trainings")
    print(f"wall time: {wall / 60:.1f} min ({trainings / (wall / 60):.1f} trainings per minute)")
    print(f"CPU time of the block jobs: {cpu / 60:.1f} min ({cpu / trainings:.2f} s per training)")
    print(
        f"chosen: {result['filters']} filters, {result['neurons']} neurons, "
        f"{100 * result['mean_accuracy']:.2f}% CV accuracy, {result['n_params']:,} parameters, "
        f"{result['bytes_before'] / 1024:.0f} KB -> {result['bytes_after'] / 1024:.0f} KB"
    )


if __name__ == "__main__":
    main()
