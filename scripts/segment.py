"""Segment every accepted manifest image (LAB + K-means, seed 004); write masked copies."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd
from PIL import Image

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run
from mobileclf.data.images import load_rgb
from mobileclf.data.segment import SegmentationSettings, plot_stages, segment_rgb

log = logging.getLogger("segment")


def main(args) -> None:
    options = dict(args.options)
    max_pixels = options.pop("max_pixels", 100_000_000)
    oversize = options.pop("oversize", "reject")
    settings = SegmentationSettings.from_config(options)
    manifest = pd.read_csv(args.manifest, keep_default_na=False)
    accepted = manifest[manifest.status == "ok"]
    out = Path(args.images)
    rows, examples = [], {}
    for path, label in zip(accepted.path, accepted.label, strict=True):
        rgb = load_rgb(Path(args.root) / path, max_pixels, oversize).rgb
        masked, status = segment_rgb(rgb, settings)
        if status != "ok":
            log.warning("%s: empty mask after cleaning, kept unmasked", path)
        # PNG content under the manifest's relative path, whatever its extension: the
        # manifest indexes both trees and decoding goes by content (mobileclf.data.images).
        atomic.write_with(out / path, lambda p, m=masked: Image.fromarray(m).save(p, format="PNG"))
        rows.append(
            dict(path=path, label=label, status=status, foreground=float(masked.any(-1).mean()))
        )
        examples.setdefault(label, (f"{label}: {Path(path).name}", rgb))
    table = pd.DataFrame(rows, columns=["path", "label", "status", "foreground"])
    log.info(
        "%d images segmented, %d with an empty mask (kept unmasked), mean foreground %.3f",
        len(table),
        int((table.status != "ok").sum()),
        table.foreground.mean(),
    )
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    atomic.write_with(args.figure, lambda p: plot_stages(list(examples.values())[:4], settings, p))


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("manifest", "root", "images", "table", "figure"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--options", type=json_arg, required=True, help="segmentation (JSON)")
    run(main, arguments, globals().get("snakemake"))
