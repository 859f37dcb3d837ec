"""The phone_inputs stage: every CV test image as the phone would feed it, once per size.

Cross-validation scores each fold's test images on the computer path (the training
preprocessing) and, with these inputs, on the phone's two paths: the gallery path
(:func:`mobileclf.mobile.camera.gallery_input`) and the live-camera path at every
``mobile.camera_levels`` severity (:func:`mobileclf.mobile.camera.camera_input`). The
emulation costs far more than a prediction, and every fold of every architecture ×
generator scores the same images, so it runs here once per dataset and size (a cached
job), not once per fold.

Which images: every non-holdout row of splits.csv (each is a test image of some fold;
the holdout is never looked at before the final model). Same decoding, segmentation and
code as the mobile stage (:mod:`mobileclf.mobile.inputs`).

Seed stream: the camera draw of an image is ``image_seed(seed, severity, path)``, the
mobile stage's own per-image stream, so CV and the mobile stage score the same kind of
views and a model scores the same numbers on an image in both. Training never draws from
this stream: phone-path training views (generator key ``phone_views``) use their own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.errors import UserError

log = logging.getLogger("phone_inputs")


class PhoneInputsMismatch(UserError):
    """phone_inputs/{size}.npz does not describe the images a fold scores."""


def camera_key(severity: int) -> str:
    """The array name (and metrics.json key suffix) of one camera severity."""
    return f"camera_s{int(severity)}"


def metric_name(array: str) -> str:
    """metrics.json's key for an array: ``gallery_accuracy``, ``camera_accuracy_s{k}``."""
    return "gallery_accuracy" if array == "gallery" else f"camera_accuracy_s{array[8:]}"


def phone_inputs(args) -> None:
    """``args`` are scripts/phone_inputs.py's flags."""
    from mobileclf.data.images import load_rgb
    from mobileclf.data.segment import app_step
    from mobileclf.mobile.camera import CameraConditions, camera_input, gallery_input, image_seed
    from mobileclf.parallel import map_threads

    options = args.options
    size = int(args.size)
    splits = pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False)
    rows = np.flatnonzero(splits.set.to_numpy() != "holdout")
    paths = splits.path.to_numpy()[rows].astype(str)
    levels = [CameraConditions.from_config(level) for level in options["camera_levels"]]
    segment = app_step(options["segmentation"])
    gallery = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    camera = np.empty((len(levels), *gallery.shape), dtype=np.uint8)

    def emulate(i: int) -> None:  # one image, its own streams: any thread, same pixels
        path = paths[i]
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        gallery[i] = gallery_input(rgb if segment is None else segment(rgb), size)
        for severity, conditions in enumerate(levels):
            rng = np.random.default_rng(image_seed(options["seed"], severity, path))
            camera[severity, i] = camera_input(
                rgb, size, conditions, rng, options["sensor_orientation"], segment
            )

    map_threads(emulate, range(len(paths)), args.threads)
    log.info(
        "%d CV images at %d px: gallery + %d camera levels (%d threads)",
        len(rows),
        size,
        len(levels),
        args.threads,
    )
    arrays = {camera_key(k): camera[k] for k in range(len(levels))}

    def save(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez(handle, rows=rows, paths=paths, gallery=gallery, **arrays)

    atomic.write_with(args.out, save)


def load_phone_inputs(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a phone_inputs file, read once per job (every fold scores from it)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def keras_probabilities(model, images: np.ndarray) -> np.ndarray:
    """A Keras model's class probabilities for uint8 images, fed exactly as the mobile
    stage's keras path feeds the final model (:func:`mobileclf.mobile.predict.predict_keras`:
    raw 0..255 as float32, batches of 32; the model normalises inside)."""
    return np.asarray(
        model.predict(images.astype(np.float32), batch_size=32, verbose=0), dtype=np.float64
    )


def phone_metrics(predict, inputs: dict, test: np.ndarray, y: np.ndarray, splits_paths) -> dict:
    """``gallery_accuracy`` and ``camera_accuracy_s{k}`` of one fold's ``test`` rows.

    ``predict`` maps uint8 images to class probabilities exactly as the model is scored on
    the computer path (raw 0..255 float input: the keras model normalises inside, as the
    mobile stage's keras path feeds it); ``test`` are row indices of splits.csv, ``y``
    their classes by row, ``splits_paths`` splits.csv's path column (to check the file).
    """
    position = {int(row): i for i, row in enumerate(inputs["rows"])}
    missing = [int(row) for row in test if int(row) not in position]
    if missing:
        raise PhoneInputsMismatch(
            f"phone inputs lack {len(missing)} test image(s) of this fold (e.g. "
            f"{splits_paths[missing[0]]}); delete results/*/phone_inputs and rerun"
        )
    index = np.array([position[int(row)] for row in test], dtype=int)
    if list(inputs["paths"][index]) != [str(p) for p in np.asarray(splits_paths)[test]]:
        raise PhoneInputsMismatch(
            "phone inputs were made from another splits.csv; delete results/*/phone_inputs "
            "and rerun"
        )
    cameras = sorted((n for n in inputs if n.startswith("camera_s")), key=lambda n: int(n[8:]))
    names = ["gallery", *cameras]
    if not len(test):
        return {metric_name(name): None for name in names}
    # one call for every path: a Keras predict call costs ~90 ms of set-up at these sizes,
    # as much as scoring a fold's images, and per-image outputs do not depend on the call
    stacked = np.concatenate([inputs[name][index] for name in names])
    predicted = np.asarray(predict(stacked)).argmax(axis=1).reshape(len(names), len(test))
    truth = np.asarray(y)[test]
    return {
        metric_name(name): float((predicted[i] == truth).mean()) for i, name in enumerate(names)
    }
