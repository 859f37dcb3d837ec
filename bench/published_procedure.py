"""The published procedure of Muneeb et al. (2022), re-implemented from the
paper's text.

What the paper describes, and what this script therefore does, in one Python process:
  1. Step 1 (section 2.1, Fig. 2): resize every image to each size.
  2. Step 2 (section 2.2, Fig. 3): for each size and fold, a folder tree
     ``<size>/fold<k>/{train,validation,test}/<class>/`` of JPEG files on disk.
  3. Step 3 (section 2.3, Table 1): for each size × fold × generator × architecture a
     fresh Keras model, a train ``ImageDataGenerator`` with the Table 1 settings
     (``fit`` on the training images for the featurewise statistics), images read back
     with ``flow_from_directory``, ``model.fit`` with the validation folder, then the
     test folder evaluated. Keras' stock optimizers, TensorFlow's default allocator.

Choices the paper leaves open, made to keep the comparison with the pipeline fair:
  * the folds are the pipeline's own (``splits.csv``: same train/val/test images per
    fold), so accuracy differences come from the procedure, not from the split;
  * validation and test generators apply the training generator's rescale and
    featurewise statistics (no augmentation), as the pipeline does inside its model;
  * resizing is PIL bilinear "stretch" like the pipeline, JPEG quality 95;
  * labels one-hot (``class_mode="categorical"``, categorical cross-entropy), Table 10.

Keras 3 has no public ImageDataGenerator; TF 2.19 / Keras 3.15 still ship it as
``keras.src.legacy.preprocessing.image.ImageDataGenerator`` (imported below).

Run alone:  python bench/published_procedure.py --root IMAGES --splits splits.csv
            --grid grid.json --out runs.json [--threads 2] [--workdir DIR]
``grid.json`` is the workflow config's generators/architectures/training/resize sections
(bench/compare.py writes it). Output: one record per training run plus phase timings.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average

ROLE_FOLDERS = {"train": "train", "val": "validation", "test": "test"}


def write_fold_folders(root: Path, splits, sizes: list[int], out: Path) -> dict:
    """Steps 1-2: every fold of every size as JPEG folders. Returns {size: seconds}."""
    from PIL import Image

    from mobileclf.data.images import load_rgb

    folds = sorted(c for c in splits.columns if c.startswith("fold"))
    seconds = {}
    decoded = {}
    for size in sizes:
        started = time.perf_counter()
        for row in splits.itertuples(index=False):
            if row.path not in decoded:
                decoded[row.path] = load_rgb(root / row.path).rgb
            image = Image.fromarray(decoded[row.path]).resize((size, size), Image.BILINEAR)
            name = row.path.replace("/", "_").rsplit(".", 1)[0] + ".jpg"
            for fold in folds:
                role = ROLE_FOLDERS.get(getattr(row, fold))
                if role is None:  # holdout: never used in the CV grid
                    continue
                folder = out / str(size) / fold / role / row.label
                folder.mkdir(parents=True, exist_ok=True)
                image.save(folder / name, format="JPEG", quality=95)
        seconds[size] = time.perf_counter() - started
    return seconds


def _generators(spec: dict, train_dir: Path, size: int, batch: int, seed: int):
    """Train generator with the Table 1 settings, and an evaluation generator with the
    same rescale/featurewise statistics; both read the fold's folders."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator
    from keras.utils import img_to_array, load_img

    train_gen = ImageDataGenerator(**spec)
    if spec.get("featurewise_center") or spec.get("featurewise_std_normalization"):
        files = sorted(p for p in train_dir.rglob("*.jpg"))
        train_gen.fit(np.stack([img_to_array(load_img(p)) for p in files]))
    normalise = {
        k: spec[k]
        for k in ("rescale", "featurewise_center", "featurewise_std_normalization")
        if k in spec
    }
    eval_gen = ImageDataGenerator(**normalise)
    eval_gen.mean, eval_gen.std = train_gen.mean, train_gen.std
    flow = {"target_size": (size, size), "batch_size": batch, "class_mode": "categorical"}
    return (
        train_gen.flow_from_directory(str(train_dir), shuffle=True, seed=seed, **flow),
        eval_gen,
        flow,
    )


def train_one(
    layers: list[dict], spec: dict, fold_dir: Path, size: int, training: dict, seed: int
) -> dict:
    """Step 3 for one size × fold × generator × architecture: fresh model, fit, test."""
    import keras

    from mobileclf.train.architectures import build_model
    from mobileclf.train.step_timer import peak_rss_mb, step_timer

    started = time.perf_counter()
    cpu_started = sum(os.times()[:2])
    keras.utils.set_random_seed(seed)
    batch = training["batch_size"]
    train_flow, eval_gen, flow = _generators(spec, fold_dir / "train", size, batch, seed)
    classes = sorted(train_flow.class_indices, key=train_flow.class_indices.get)
    validation = (
        eval_gen.flow_from_directory(
            str(fold_dir / "validation"), shuffle=False, classes=classes, **flow
        )
        if (fold_dir / "validation").is_dir()
        else None
    )
    test = eval_gen.flow_from_directory(
        str(fold_dir / "test"), shuffle=False, classes=classes, **flow
    )
    model = build_model(layers, size, len(classes))  # no rescale layer: the generator rescales
    if training["optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(training["learning_rate"])
    else:
        optimizer = keras.optimizers.SGD(
            training["learning_rate"], momentum=training.get("momentum", 0.0)
        )
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    timer = step_timer()
    model.fit(
        train_flow,
        validation_data=validation,
        epochs=training["epochs"],
        callbacks=[timer],
        verbose=0,
    )
    _, accuracy = model.evaluate(test, verbose=0)
    seconds = time.perf_counter() - started
    steady = sorted(timer.durations[1:])
    return {
        "accuracy": float(accuracy),
        "n_train": train_flow.samples,
        "n_test": test.samples,
        "seconds": seconds,
        "train_steps": len(timer.durations),
        "step_seconds_median": steady[len(steady) // 2],
        "step_seconds_total": sum(timer.durations),
        "images_per_second": (train_flow.samples * training["epochs"] - batch) / sum(steady),
        "outside_steps_share": 1 - sum(timer.durations) / seconds,
        "peak_rss_mb": peak_rss_mb(),
        "cpu_seconds": sum(os.times()[:2]) - cpu_started,
    }


def run(root: Path, splits_csv: Path, grid: dict, workdir: Path, threads: int, seed: int) -> dict:
    """The whole published grid; returns run records and the time of each phase."""
    import pandas as pd

    process_started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(2, threads))
    import_seconds = time.perf_counter() - process_started
    splits = pd.read_csv(splits_csv, dtype={"group": str}, keep_default_na=False)
    folds = sorted(c for c in splits.columns if c.startswith("fold"))
    sizes = sorted(grid["resize"]["sizes"])
    folder_seconds = write_fold_folders(root, splits, sizes, workdir)
    runs = []
    for size in sizes:
        for fold in folds:
            for generator, spec in sorted(grid["generators"].items()):
                for arch, arch_spec in sorted(grid["architectures"].items()):
                    record = train_one(
                        arch_spec["layers"],
                        spec,
                        workdir / str(size) / fold,
                        size,
                        grid["training"],
                        seed + int(fold.removeprefix("fold")),
                    )
                    runs.append(
                        {
                            "arch": arch,
                            "generator": generator,
                            "size": size,
                            "fold": int(fold.removeprefix("fold")),
                            **record,
                        }
                    )
                    print(
                        f"{arch} {generator} {size} {fold}: accuracy {record['accuracy']:.3f},"
                        f" {record['seconds']:.1f} s ({load_average()})",
                        flush=True,
                    )
    return {"import_seconds": import_seconds, "folder_seconds": folder_seconds, "runs": runs}


def main() -> None:
    arguments = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    arguments.add_argument("--root", required=True, help="image folder, one sub-folder per class")
    arguments.add_argument(
        "--splits", required=True, help="splits.csv from the workflow (the folds)"
    )
    arguments.add_argument(
        "--grid", required=True, help="JSON: resize, generators, architectures, training"
    )
    arguments.add_argument("--out", required=True, help="JSON file for the run records")
    arguments.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--workdir", help="where the JPEG folders go (default: a temporary folder)"
    )
    args = arguments.parse_args()
    started = time.perf_counter()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="published_"))
    try:
        result = run(
            Path(args.root),
            Path(args.splits),
            json.loads(Path(args.grid).read_text()),
            workdir,
            args.threads,
            args.seed,
        )
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    result["wall_seconds"] = time.perf_counter() - started
    result["load"] = load_average()
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
