"""Emulated phone inputs for the holdout images: the computer and gallery paths
(``reference``) or the live-camera path at one severity level (``camera``)."""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run

N_EXAMPLES = 4  # phone-test images shown in the contact sheet
log = logging.getLogger("mobile_inputs")


def model_size(spec_path: str) -> int:
    return int(json.loads(Path(spec_path).read_text())["size"])


def reference(args) -> None:
    from mobileclf.camera import gallery_input
    from mobileclf.datasets import read_labels
    from mobileclf.images import load_rgb
    from mobileclf.mobile import holdout_rows
    from mobileclf.resize import to_square

    options = args.options
    size = model_size(args.spec)
    splits = pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False)
    holdout = holdout_rows(
        splits, read_labels(args.labels), options["phone_test_per_class"], options["seed"]
    )
    computer = np.empty((len(holdout), size, size, 3), dtype=np.uint8)
    gallery = np.empty_like(computer)
    for i, path in enumerate(holdout.path):
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        computer[i] = to_square(rgb, size, options["mode"], options["resample"])
        gallery[i] = gallery_input(rgb, size)
    difference = np.abs(computer.astype(int) - gallery.astype(int)).mean()
    log.info(
        "%d holdout images at %d px (%d in the phone test); mean |computer - gallery| = "
        "%.2f grey levels",
        len(holdout),
        size,
        holdout.phone_test.sum(),
        difference,
    )
    atomic.write_with(args.holdout, lambda p: holdout.to_csv(p, index=False))
    atomic.write_npy(args.computer, computer)
    atomic.write_npy(args.gallery, gallery)


def camera(args) -> None:
    from mobileclf.camera import CameraConditions, camera_input, image_seed
    from mobileclf.images import load_rgb
    from mobileclf.resize import to_square

    options = args.options
    size = model_size(args.spec)
    conditions = CameraConditions.from_config(options["conditions"])
    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    out = np.empty((len(holdout), size, size, 3), dtype=np.uint8)
    phone = holdout[holdout.phone_test]
    # alternate the classes so the sheet shows each of them, not the first class N times
    order = phone.assign(turn=phone.groupby("label").cumcount()).sort_values(["turn", "label"])
    examples = np.sort(order.index.to_numpy()[:N_EXAMPLES])
    frames, originals = [], []
    for i, path in enumerate(holdout.path):
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        rng = np.random.default_rng(image_seed(options["seed"], args.severity, path))
        out[i], frame = camera_input(rgb, size, conditions, rng, options["sensor_orientation"])
        if i in examples:
            frames.append(frame[::2, ::2])  # half resolution is plenty for the contact sheet
            originals.append(to_square(rgb, 160))
    log.info("severity %d (%s): %d images at %d px", args.severity, conditions, len(out), size)
    atomic.write_npy(args.out, out)

    def save_examples(path: Path) -> None:
        with open(path, "wb") as handle:
            np.savez_compressed(
                handle, rows=examples, frames=np.asarray(frames), originals=np.asarray(originals)
            )

    atomic.write_with(args.examples, save_examples)


if __name__ == "__main__":
    arguments = parser(__doc__)
    commands = arguments.add_subparsers(dest="command", required=True)
    ref = commands.add_parser("reference", help="computer and gallery paths + holdout.csv")
    for name in ("splits", "labels", "spec", "root", "holdout", "computer", "gallery"):
        ref.add_argument(f"--{name}", required=True)
    ref.add_argument("--options", type=json_arg, required=True)
    ref.set_defaults(main=reference)
    cam = commands.add_parser("camera", help="live-camera path at one severity level")
    for name in ("holdout", "spec", "root", "out", "examples"):
        cam.add_argument(f"--{name}", required=True)
    cam.add_argument("--severity", type=int, required=True)
    cam.add_argument("--options", type=json_arg, required=True)
    cam.set_defaults(main=camera)
    run(lambda args: args.main(args), arguments)
