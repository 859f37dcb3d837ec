"""The mobile_reference_inputs and mobile_camera_inputs stages: the holdout images as the
phone would feed them to the model.

``mobile_reference_inputs`` writes the computer path (the training preprocessing), the
gallery path (:func:`mobileclf.mobile.camera.gallery_input`) and mobile/holdout.csv (which
images, and which of them form the paper-style phone test); ``mobile_camera_inputs`` the
live-camera path at one severity (:func:`mobileclf.mobile.camera.camera_input`) and a few
example frames for the contact sheet. Images are decoded, and segmented when the app
segments, exactly as the ingest stage did.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic

N_EXAMPLES = 4  # phone-test images shown in the contact sheet
log = logging.getLogger("mobile_inputs")


def model_size(spec_path: str) -> int:
    """The final model's input side from final/spec.json."""
    return int(json.loads(Path(spec_path).read_text())["size"])


def mobile_reference_inputs(args) -> None:
    """``args`` are scripts/mobile_reference_inputs.py's flags."""
    from mobileclf.data.datasets import read_labels
    from mobileclf.data.images import load_rgb
    from mobileclf.data.resize import to_square
    from mobileclf.data.segment import app_step
    from mobileclf.mobile.camera import gallery_input
    from mobileclf.mobile.predict import holdout_rows

    options = args.options
    size = model_size(args.spec)
    splits = pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False)
    holdout = holdout_rows(
        splits, read_labels(args.labels), options["phone_test_per_class"], options["seed"]
    )
    segment = app_step(options.get("segmentation"))  # the app segments before resizing
    computer = np.empty((len(holdout), size, size, 3), dtype=np.uint8)
    gallery = np.empty_like(computer)
    for i, path in enumerate(holdout.path):
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        if segment is not None:
            rgb = segment(rgb)
        computer[i] = to_square(rgb, size, options["mode"], options["resample"])
        gallery[i] = gallery_input(rgb, size)
    difference = np.abs(computer.astype(int) - gallery.astype(int)).mean()
    log.info(
        "%d holdout images at %d px (%d in the phone test%s); mean |computer - gallery| = "
        "%.2f grey levels",
        len(holdout),
        size,
        holdout.phone_test.sum(),
        ", segmented as the app would" if segment else "",
        difference,
    )
    atomic.write_with(args.holdout, lambda p: holdout.to_csv(p, index=False))
    atomic.write_npy(args.computer, computer)
    atomic.write_npy(args.gallery, gallery)


def example_rows(holdout: pd.DataFrame) -> np.ndarray:
    """The phone-test rows shown in the contact sheet, alternating the classes so the
    sheet shows each of them, not the first class N times."""
    phone = holdout[holdout.phone_test]
    order = phone.assign(turn=phone.groupby("label").cumcount()).sort_values(["turn", "label"])
    return np.sort(order.index.to_numpy()[:N_EXAMPLES])


def mobile_camera_inputs(args) -> None:
    """``args`` are scripts/mobile_camera_inputs.py's flags."""
    from mobileclf.data.images import load_rgb
    from mobileclf.data.resize import to_square
    from mobileclf.data.segment import app_step
    from mobileclf.mobile.camera import CameraConditions, camera_input, camera_view, image_seed

    options = args.options
    size = model_size(args.spec)
    conditions = CameraConditions.from_config(options["conditions"])
    segment = app_step(options.get("segmentation"))  # on the captured crop, before resizing
    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    out = np.empty((len(holdout), size, size, 3), dtype=np.uint8)
    examples = example_rows(holdout)
    frames, originals = [], []
    for i, path in enumerate(holdout.path):
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        rng = np.random.default_rng(image_seed(options["seed"], args.severity, path))
        view = (rgb, size, conditions, rng, options["sensor_orientation"], segment)
        if i not in examples:
            out[i] = camera_input(*view)
        else:  # the whole frame too, for the contact sheet
            out[i], frame = camera_view(*view)
            frames.append(frame[::2, ::2])  # half resolution is plenty for the contact sheet
            originals.append(to_square(rgb, 160))
    log.info("severity %d (%s): %d images at %d px", args.severity, conditions, len(out), size)
    atomic.write_npy(args.inputs, out)

    def save_examples(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle, rows=examples, frames=np.asarray(frames), originals=np.asarray(originals)
            )

    atomic.write_with(args.examples, save_examples)
