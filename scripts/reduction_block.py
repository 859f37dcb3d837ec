"""Train one block of parameter-reduction cells on every CV fold: one CSV row per cell × fold."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.reduce.block import reduction_block

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("images", "splits", "labels", "out"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--cells", required=True, help="block name, e.g. f4n1-3.8_f5n2")
    arguments.add_argument(
        "--arch-spec", type=json_arg, required=True, help="architecture spec (JSON)"
    )
    arguments.add_argument(
        "--generator-spec", type=json_arg, required=True, help="generator spec (JSON)"
    )
    arguments.add_argument(
        "--training", type=json_arg, required=True, help="training section (JSON)"
    )
    arguments.add_argument("--seed", type=int, default=42, help="base seed; fold k uses seed + k")
    arguments.add_argument(
        "--phone-views", nargs="*", default=[], help="phone views (.npy) of a phone_views generator"
    )
    arguments.add_argument("--threads", type=int, default=1)
    run(reduction_block, arguments, globals().get("snakemake"))
