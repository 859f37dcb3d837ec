"""Segment every accepted manifest image (LAB + K-means, Ghaderzadeh et al. (n.d.));
write masked copies."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import json_arg, parser, run
from mobileclf.data.segment import segment

if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("manifest", "root", "images", "table", "figure"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument("--options", type=json_arg, required=True, help="segmentation (JSON)")
    run(segment, arguments, globals().get("snakemake"))
