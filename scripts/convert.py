"""Convert the final Keras model to one TFLite variant (float32, dynamic, int8, float16).

The int8 variant is calibrated on a seeded sample of non-holdout (training) images.
"""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run


def main(args) -> None:
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    import keras
    import numpy as np
    import pandas as pd

    from mobileclf.data.datasets import array_for_size
    from mobileclf.export.convert import calibration_images, convert

    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    model = keras.models.load_model(args.model)
    calibration = None
    if args.variant == "int8":
        images = np.load(array_for_size(args.arrays, spec["size"]), mmap_mode="r")
        splits = pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False)
        training = np.flatnonzero(splits["set"].to_numpy() != "holdout")
        calibration = calibration_images(images[training], args.calibration_images, args.seed)
        logging.getLogger("convert").info(
            "int8: calibrating on %d training images", len(calibration)
        )
    flatbuffer = convert(model, args.variant, calibration)
    logging.getLogger("convert").info("%s: %d bytes", args.variant, len(flatbuffer))
    atomic.write_with(args.out, lambda p: p.write_bytes(flatbuffer))


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("model", "spec", "splits", "variant", "out"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--arrays", nargs="+", required=True, help="resized arrays ({size}.npy)")
    arguments.add_argument(
        "--calibration-images",
        type=int,
        default=200,
        help="training images sampled for int8 calibration",
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--threads", type=int, default=1)
    run(main, arguments, globals().get("snakemake"))
