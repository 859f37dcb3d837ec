"""Aggregate fold metrics into cv_runs.csv, cv_summary.csv, a Markdown table and a heatmap."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import parser, run
from mobileclf.select.aggregate import paper_table_markdown, plot_heatmap, read_runs, summarise


def main(args) -> None:
    runs = read_runs(args.metrics)
    summary = summarise(runs, args.folds)
    log = logging.getLogger("aggregate")
    for row in runs[runs.status != "ok"].itertuples():
        log.warning(
            "%s/%s/%s fold %s %s: %s (marked incomplete; the next run retries it)",
            row.arch,
            row.generator,
            row.size,
            row.fold,
            row.status,
            row.error,
        )
    atomic.write_with(args.runs, lambda p: runs.to_csv(p, index=False))
    atomic.write_with(args.summary, lambda p: summary.to_csv(p, index=False))
    atomic.write_text(
        args.markdown,
        f"## Cross-validation accuracy: {args.dataset}\n\n" + paper_table_markdown(summary),
    )
    atomic.write_with(
        args.heatmap, lambda p: plot_heatmap(summary, p, f"{args.dataset}: mean CV accuracy")
    )


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--metrics", nargs="+", required=True)
    arguments.add_argument("--folds", type=int, required=True)
    arguments.add_argument("--dataset", required=True)
    for name in ("runs", "summary", "markdown", "heatmap"):
        arguments.add_argument(f"--{name}", required=True)
    run(main, arguments, globals().get("snakemake"))
