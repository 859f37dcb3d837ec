"""Train and evaluate one architecture × generator × size × fold: metrics.json + history.csv."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run


def main(args) -> None:
    from mobileclf import tf_runtime

    device = tf_runtime.configure(args.threads, args.seed)
    from mobileclf.datasets import load
    from mobileclf.training import TrainSettings, fit_and_evaluate

    data = load(args.images, args.splits, args.labels)
    positive = data.labels.index(args.positive_class) if args.positive_class else 1
    roles = data.splits[f"fold{args.fold}"].to_numpy()
    result = fit_and_evaluate(
        data.images,
        data.y,
        roles,
        data.labels,
        args.arch_spec["layers"],
        args.generator_spec,
        TrainSettings.from_config(args.training),
        args.seed,
        positive,
    )
    metrics = dict(
        arch=args.arch,
        generator=args.generator,
        size=int(data.images.shape[1]),
        fold=args.fold,
        status="ok",
        seed=args.seed,
        device=device,
        **result.metrics,
    )
    logging.getLogger("train").info("fold %d accuracy %.4f", args.fold, metrics["accuracy"])
    atomic.write_with(args.history, lambda p: result.history.to_csv(p, index=False))
    atomic.write_json(args.metrics, metrics)


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("images", "splits", "labels", "metrics", "history", "arch", "generator"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--fold", type=int, required=True)
    arguments.add_argument("--arch-spec", type=json_arg, required=True, help="architecture (JSON)")
    arguments.add_argument(
        "--generator-spec", type=json_arg, required=True, help="generator (JSON)"
    )
    arguments.add_argument(
        "--training", type=json_arg, required=True, help="training section (JSON)"
    )
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--positive-class", default="", help="disease class (default: 2nd label)"
    )
    arguments.add_argument("--threads", type=int, default=1)
    run(main, arguments, globals().get("snakemake"))
