"""Ingest a data root: manifest.csv (every file, accepted or rejected) and labels.txt."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.data.ingest import IngestOptions, ingest, rejects_table


def main(args) -> None:
    manifest, labels = ingest(args.root, IngestOptions(**args.options), args.dataset)
    rejected = rejects_table(manifest)
    log = logging.getLogger("ingest")
    for row in rejected.itertuples():
        log.warning("rejected %s: %s", row.path, row.reason)
    for row in manifest[(manifest.status == "ok") & (manifest.reason != "")].itertuples():
        log.info("note %s: %s", row.path, row.reason)
    log.info(
        "%d accepted, %d rejected, classes: %s",
        (manifest.status == "ok").sum(),
        len(rejected),
        ", ".join(labels),
    )
    atomic.write_with(args.manifest, lambda p: manifest.to_csv(p, index=False))
    if args.rejects:
        atomic.write_with(args.rejects, lambda p: rejected.to_csv(p, index=False))
    atomic.write_text(args.labels, "\n".join(labels) + "\n")


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--root", required=True)
    arguments.add_argument("--options", type=json_arg, default={})
    arguments.add_argument("--dataset", default="<name>", help="its name in the config")
    arguments.add_argument("--manifest", required=True)
    arguments.add_argument("--labels", required=True)
    arguments.add_argument(
        "--rejects", help="rejects.csv: path, label, reason of every rejected file"
    )
    run(main, arguments, globals().get("snakemake"))
