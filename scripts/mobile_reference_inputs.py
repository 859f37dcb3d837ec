"""The computer and gallery input paths of the holdout images, and mobile/holdout.csv
(which images, and which of them form the paper-style phone test)."""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run

log = logging.getLogger("mobile_inputs")


def model_size(spec_path: str) -> int:
    return int(json.loads(Path(spec_path).read_text())["size"])


def main(args) -> None:
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


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("splits", "labels", "spec", "root", "holdout", "computer", "gallery"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--options", type=json_arg, required=True)
    run(main, arguments, globals().get("snakemake"))
