"""Run every exported TFLite variant in the LiteRT interpreter on the holdout images and
compare it with the final Keras model; write tables/export.csv.

float32 must reproduce Keras within export.tolerance (max probability difference) or the
job fails naming the variant; the quantized variants report their drop.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.export.verify import verify_export

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
    run(verify_export, arguments, globals().get("snakemake"))
