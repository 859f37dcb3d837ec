"""Mobile table, phone-test list, robustness plot, contact sheet and the verdict."""

import json
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.data.datasets import read_labels
from mobileclf.mobile.predict import mobile_table, plot_contact_sheet, plot_robustness
from mobileclf.mobile.verdict import decide


def severity_of(path: str) -> int:
    return int(re.search(r"camera_(\d+)(?:_examples\.npz|\.npy)$", path).group(1))


def phone_test_listing(predictions: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    """The paper-style phone test: its images and each variant's answer on each path."""
    part = predictions[predictions.phone_test].copy()
    part["column"] = (
        part.variant
        + "/"
        + part.path
        + part.severity.map(lambda s: "" if pd.isna(s) else f"{int(s)}")
    )
    part["answer"] = part.predicted.map(lambda k: labels[int(k)])
    wide = part.pivot_table(
        index=["image", "label"], columns="column", values="answer", aggfunc="first", sort=False
    )
    return wide.reset_index()


def main(args) -> None:
    labels = read_labels(args.labels)
    positive = labels.index(args.positive_class) if args.positive_class else 1
    predictions = pd.concat(
        [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in args.predictions],
        ignore_index=True,
    )
    predictions["phone_test"] = predictions.phone_test.astype(str).str.lower() == "true"
    predictions["severity"] = predictions.severity.astype("Int64")
    table = mobile_table(predictions, labels, positive)
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    listing = phone_test_listing(predictions, labels)
    atomic.write_with(args.phone_test, lambda p: listing.to_csv(p, index=False))
    atomic.write_with(
        args.robustness,
        lambda p: plot_robustness(
            table, p, f"{args.dataset}: accuracy on the emulated phone paths"
        ),
    )

    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    frames, inputs, originals, captions = {}, {}, None, []
    for example_path in args.examples:
        with np.load(example_path) as data:
            severity = severity_of(example_path)
            frames[severity] = data["frames"]
            rows = data["rows"]
            originals = data["originals"]
        inputs[severity] = np.load(
            next(p for p in args.camera if severity_of(p) == severity), mmap_mode="r"
        )[rows]
        captions = [f"{holdout.label[r]}\n{Path(holdout.path[r]).name[:22]}" for r in rows]
    atomic.write_with(
        args.contact_sheet,
        lambda p: plot_contact_sheet(list(originals), frames, inputs, captions, p),
    )

    spec = json.loads(Path(args.spec).read_text())
    generator = args.options["generators"].get(spec.get("generator"), {})
    bytes_by_variant = {
        re.search(r"model_(\w+)\.tflite$", p).group(1): Path(p).stat().st_size for p in args.models
    }
    verdict = decide(
        table,
        args.options["thresholds"],
        spec,
        generator,
        pd.read_csv(args.cv_summary),
        bytes_by_variant,
    )
    verdict = {"dataset": args.dataset, **verdict}
    logging.getLogger("verdict").info("%s", verdict["summary"])
    atomic.write_json(args.verdict, verdict)


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("predictions", "models", "camera", "examples"):
        arguments.add_argument(f"--{name}", nargs="+", required=True)
    for name in (
        "dataset",
        "labels",
        "spec",
        "cv-summary",
        "holdout",
        "table",
        "phone-test",
        "robustness",
        "contact-sheet",
        "verdict",
    ):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--positive-class", default="")
    arguments.add_argument("--options", type=json_arg, required=True)
    run(main, arguments, globals().get("snakemake"))
