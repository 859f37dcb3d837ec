"""Train the chosen configuration on all non-holdout images; evaluate it once on the holdout.

Writes final/model.keras, final/spec.json (what was built and how its input is
normalised), final/metrics.json (Keras model on the holdout), final/history.csv and
deploy/labels.txt (line i names output i, in training class-index order).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.train.final import train_final

if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--arrays", nargs="+", required=True, help="resized arrays ({size}.npy)")
    for name in ("splits", "labels", "model", "spec", "metrics", "history", "deploy-labels"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--chosen", required=True, help="selection.json or reduction.json")
    arguments.add_argument(
        "--architectures", type=json_arg, required=True, help="config section (JSON)"
    )
    arguments.add_argument(
        "--generators", type=json_arg, required=True, help="config section (JSON)"
    )
    arguments.add_argument(
        "--training", type=json_arg, required=True, help="training section (JSON)"
    )
    arguments.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="validation share of non-holdout images (early stopping only)",
    )
    arguments.add_argument(
        "--phone-views",
        nargs="*",
        default=[],
        help="phone views ({size}/{generator}.npy) of the phone_views generators",
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--threads", type=int, default=1)
    run(train_final, arguments, globals().get("snakemake"))
