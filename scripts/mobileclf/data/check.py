"""check_data: the intermediates every later job reads, checked once before any of them
starts.

A tampered or stale manifest.csv, labels.txt, splits.csv or array is refused by every
training job too (mobileclf.data.datasets.load), but only after Snakemake started the job,
and Snakemake removes a job's old outputs when it starts it: a garbage splits.csv cost
every fold's results. This job stands between those files and their readers (each
training, final-model, export and phone-test job lists its output): when it refuses,
none of them starts and every result stays on disk. Its output records only what the
readers depend on, so a file rebuilt by `make repair` with the same content writes the
same bytes and reruns none of them (the rule is a checkpoint: Snakemake then compares
checksums, docs/reruns-and-recovery.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

from mobileclf import atomic
from mobileclf.data.datasets import DataMismatch, load
from mobileclf.data.split import fold_columns
from mobileclf.errors import REPAIR


def check_data(args) -> None:
    """Load the size's array with splits, labels and manifest (every cross-check of a
    training job, the array memory-mapped) and check the array's image size."""
    data = load(args.images, args.splits, args.labels, args.manifest)
    size = int(args.size)
    shape = tuple(data.images.shape[1:])
    if shape != (size, size, 3) or data.images.dtype.name != "uint8":
        raise DataMismatch(
            f"{args.images} holds {data.images.dtype.name} images of shape {shape}, not "
            f"uint8 {size}x{size}x3; it was edited or comes from another run; delete it and "
            f"{REPAIR}"
        )
    record = {
        "images": len(data.splits),
        "labels": data.labels,
        "folds": len(fold_columns(data.splits)),
        "size": size,
    }
    logging.getLogger("check_data").info("%s: %s", Path(args.images).name, record)
    atomic.write_json(args.out, record)
