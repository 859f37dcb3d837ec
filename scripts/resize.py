"""Resize every accepted manifest image to SIZE×SIZE into one .npy array."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.data.resize import resize_all
from mobileclf.data.split import read_table


def main(args) -> None:
    manifest = read_table(args.manifest)
    accepted = manifest[manifest.status == "ok"]
    paths = [Path(args.root) / p for p in accepted.path]
    options = args.options
    array = resize_all(
        paths,
        args.size,
        options.get("mode", "stretch"),
        options.get("resample", "bilinear"),
        options.get("max_pixels", 100_000_000),
        options.get("oversize", "reject"),
    )
    atomic.write_npy(args.out, array)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--manifest", required=True)
    arguments.add_argument("--root", required=True)
    arguments.add_argument("--size", type=int, required=True)
    arguments.add_argument("--options", type=json_arg, default={})
    arguments.add_argument("--out", required=True)
    run(main, arguments, globals().get("snakemake"))
