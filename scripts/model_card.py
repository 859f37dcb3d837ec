"""Write the deploy bundle's model_card.md and metadata.json (each variant's metadata read back)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.export.model_card import render


def _read(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(args) -> None:
    spec = _read(args.spec)
    read_backs = {(data := _read(path))["variant"]: data for path in args.read_back}
    export = pd.read_csv(args.export)
    card = render(
        args.dataset,
        spec,
        _read(args.metrics),
        _read(args.chosen),
        export,
        pd.read_csv(args.splits, dtype={"group": str}, keep_default_na=False),
        args.fields,
        args.resize,
        args.tolerance,
        {variant: data["output"] for variant, data in read_backs.items()},
    )
    metadata = {
        "dataset": args.dataset,
        "labels": spec["labels"],
        "size": spec["size"],
        "input": "raw RGB 0..255 (uint8 bytes for int8); rescale, normalisation inside the model",
        "in_model_normalization": {k: spec[k] for k in ("input_scale", "input_mean", "input_std")},
        "variants": {variant: read_backs[variant] for variant in export.variant},
    }
    atomic.write_json(args.metadata_out, metadata)
    atomic.write_text(args.card, card)


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
    run(main, arguments, globals().get("snakemake"))
