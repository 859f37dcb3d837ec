"""Latency and memory per TFLite variant in the LiteRT interpreter (XNNPACK), per thread count."""

import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.mobile.latency import LatencySettings, measure


def variant_name(path: str) -> str:
    match = re.search(r"model_([A-Za-z0-9]+)\.tflite$", path)
    return match.group(1) if match else Path(path).stem


def main(args) -> None:
    settings = LatencySettings.from_config(args.options)
    rows = []
    for model in args.models:
        for row in measure(model, settings):
            rows.append({"variant": variant_name(model), **row})
            logging.getLogger("latency").info("%s", rows[-1])
    table = pd.DataFrame(rows)
    atomic.write_with(args.out, lambda p: table.to_csv(p, index=False))


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--models", nargs="+", required=True)
    arguments.add_argument("--options", type=json_arg, default={})
    arguments.add_argument("--out", required=True)
    run(main, arguments, globals().get("snakemake"))
