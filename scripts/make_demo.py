"""Write the deterministic demo dataset (see mobileclf.data.demo)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.data.demo import make_demo


def main(args) -> None:
    written = make_demo(args.out, args.per_class, args.seed)
    print(f"wrote {len(written)} demo images under {args.out}")


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--out", required=True)
    arguments.add_argument("--per-class", type=int, default=40)
    arguments.add_argument("--seed", type=int, default=7)
    run(main, arguments, globals().get("snakemake"))
