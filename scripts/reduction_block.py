"""Train one block of parameter-reduction cells on every CV fold: one CSV row per cell × fold."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.reduce.grid import parse_block_key


def main(args) -> None:
    from mobileclf import tf_runtime

    tf_runtime.configure(args.threads, args.seed)
    from mobileclf.data.datasets import load
    from mobileclf.reduce.block import train_block
    from mobileclf.train.fit import TrainSettings

    cells = parse_block_key(args.cells)
    data = load(args.images, args.splits, args.labels)
    logging.getLogger("reduction").info("block of %d cells: %s", len(cells), cells)
    rows = train_block(
        data.images,
        data.y,
        data.splits,
        data.labels,
        args.arch_spec["layers"],
        cells,
        args.generator_spec,
        TrainSettings.from_config(args.training),
        args.seed,
    )
    atomic.write_with(args.out, lambda p: pd.DataFrame(rows).to_csv(p, index=False))


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
    arguments.add_argument("--threads", type=int, default=1)
    run(main, arguments, globals().get("snakemake"))
