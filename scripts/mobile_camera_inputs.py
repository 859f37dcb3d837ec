"""The live-camera input path of the holdout images at one severity level, plus a few
example frames for the contact sheet."""

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


def main(args) -> None:
    from mobileclf.data.images import load_rgb
    from mobileclf.data.resize import to_square
    from mobileclf.data.segment import app_step
    from mobileclf.mobile.camera import CameraConditions, camera_input, image_seed

    options = args.options
    size = model_size(args.spec)
    conditions = CameraConditions.from_config(options["conditions"])
    segment = app_step(options.get("segmentation"))  # on the captured crop, before resizing
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
        out[i], frame = camera_input(
            rgb, size, conditions, rng, options["sensor_orientation"], segment
        )
        if i in examples:
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


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("holdout", "spec", "root", "inputs", "examples"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--severity", type=int, required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    run(main, arguments, globals().get("snakemake"))
