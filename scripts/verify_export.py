"""Run every exported TFLite variant in the LiteRT interpreter on the holdout images and
compare it with the final Keras model; write tables/export.csv.

float32 must reproduce Keras within export.tolerance (max probability difference) or the
job fails naming the variant; the quantized variants report their drop.
"""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.errors import UserError

COLUMNS = [
    "variant",
    "bytes",
    "input_dtype",
    "output_dtype",
    "weights",
    "n_images",
    "agreement",
    "accuracy",
    "keras_accuracy",
    "accuracy_delta",
    "max_prob_diff",
    "mean_prob_diff",
    "check",
]


def main(args) -> None:
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    import keras
    import numpy as np
    import pandas as pd

    from mobileclf.data.datasets import load
    from mobileclf.export.convert import VARIANT_INFO
    from mobileclf.export.verify import check_float32, compare, run_tflite
    from mobileclf.metrics import classification_metrics
    from mobileclf.train.final import array_for_size

    log = logging.getLogger("verify")
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    data = load(array_for_size(args.arrays, spec["size"]), args.splits, args.labels)
    holdout = np.flatnonzero(data.splits["set"].to_numpy() == "holdout")
    if not len(holdout):
        raise UserError(
            "split.holdout_fraction is 0: there are no holdout images to verify the "
            "exported models on; set it above 0 (default 0.15)"
        )
    images = np.asarray(data.images[holdout])
    y_true = data.y[holdout]
    positive = data.labels.index(args.positive_class) if args.positive_class else 1
    keras_probs = keras.models.load_model(args.keras_model).predict(
        images.astype(np.float32), batch_size=64, verbose=0
    )
    rows, comparisons, details = (
        [],
        {},
        {
            "n_images": len(holdout),
            "tolerance": args.tolerance,
            "keras": classification_metrics(y_true, keras_probs, data.labels, positive),
            "variants": {},
        },
    )
    for path in args.models:
        variant = Path(path).stem.removeprefix("model_")
        flatbuffer = Path(path).read_bytes()
        probs = run_tflite(flatbuffer, images, args.threads)
        comparison = comparisons[variant] = compare(keras_probs, probs, y_true)
        info = VARIANT_INFO[variant]
        rows.append(
            {
                "variant": variant,
                "bytes": len(flatbuffer),
                "input_dtype": info.input_dtype,
                "output_dtype": info.output_dtype,
                "weights": info.weights,
                "n_images": len(holdout),
                "agreement": comparison.agreement,
                "accuracy": comparison.accuracy,
                "keras_accuracy": comparison.accuracy - comparison.accuracy_delta,
                "accuracy_delta": comparison.accuracy_delta,
                "max_prob_diff": comparison.max_prob_diff,
                "mean_prob_diff": comparison.mean_prob_diff,
                "check": f"max_prob_diff <= {args.tolerance:g}"
                if variant == "float32"
                else "reported",
            }
        )
        details["variants"][variant] = classification_metrics(y_true, probs, data.labels, positive)
    table = pd.DataFrame(rows, columns=COLUMNS)
    log.info(
        "export verification on %d holdout images:\n%s", len(holdout), table.to_string(index=False)
    )
    if "float32" in comparisons:
        check_float32("float32", comparisons["float32"], args.tolerance)
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    atomic.write_json(args.details, details)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument(
        "--models", nargs="+", required=True, help="deploy/model_{variant}.tflite"
    )
    arguments.add_argument("--arrays", nargs="+", required=True, help="resized arrays ({size}.npy)")
    for name in ("keras-model", "spec", "splits", "labels", "table", "details"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument(
        "--tolerance",
        type=float,
        required=True,
        help="largest allowed |p_tflite - p_keras| for the float32 variant",
    )
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument("--threads", type=int, default=1)
    run(main, arguments, globals().get("snakemake"))
