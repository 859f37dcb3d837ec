"""Train and evaluate one arch × generator × size × fold; write metrics.json + history.csv."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.train.cv import cell_arguments


def main(args) -> None:
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    from mobileclf.train.cv import FoldOutputs, load_cell, train_fold

    data, cell = load_cell(args)
    fold = FoldOutputs(args.fold, args.seed, args.attempt, Path(args.metrics), Path(args.history))
    train_fold(data, cell, fold, device)


if __name__ == "__main__":
    arguments = cell_arguments(parser(__doc__))
    for name in ("metrics", "history"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--fold", type=int, required=True)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--attempt",
        type=int,
        default=0,
        help="retry token (see mobileclf.faults); written to metrics.json",
    )
    run(main, arguments, globals().get("snakemake"))
