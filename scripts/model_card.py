"""Write the deploy bundle's model_card.md and metadata.json (each variant's metadata read back)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.export.model_card import model_card

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in (
        "dataset",
        "spec",
        "metrics",
        "chosen",
        "export",
        "splits",
        "card",
        "metadata-out",
    ):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument(
        "--read-back", nargs="+", required=True, help="per-variant metadata JSON"
    )
    arguments.add_argument("--fields", type=json_arg, required=True, help="export.metadata (JSON)")
    arguments.add_argument(
        "--resize", type=json_arg, required=True, help="resize mode/resample (JSON)"
    )
    arguments.add_argument("--tolerance", type=float, required=True)
    run(model_card, arguments, globals().get("snakemake"))
