"""Make the seeded holdout + k-fold splits.csv from a manifest."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.data.split import SplitOptions, fold_columns, make_splits, read_table


def main(args) -> None:
    manifest = read_table(args.manifest)
    splits = make_splits(manifest, SplitOptions(**args.options))
    log = logging.getLogger("split")
    log.info(
        "holdout %d images, cv %d images",
        (splits.set == "holdout").sum(),
        (splits.set == "cv").sum(),
    )
    for column in fold_columns(splits):
        log.info("%s: %s", column, splits[column].value_counts().to_dict())
    atomic.write_with(args.splits, lambda p: splits.to_csv(p, index=False))


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--manifest", required=True)
    arguments.add_argument("--options", type=json_arg, default={})
    arguments.add_argument("--splits", required=True)
    run(main, arguments, globals().get("snakemake"))
