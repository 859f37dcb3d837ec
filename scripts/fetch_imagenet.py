"""Download a backbone's ImageNet weights once into Keras' cache (needs internet)."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run


def main(args) -> None:
    from mobileclf import tf_runtime

    tf_runtime.configure(1, 0)
    from mobileclf.train.backbones import build_backbone, keras_cache

    model = build_backbone(args.backbone, args.size, args.arch)
    cache = keras_cache()
    logging.getLogger("fetch_imagenet").info("%s ImageNet weights in %s", model.name, cache)
    atomic.write_json(
        args.out,
        dict(
            arch=args.arch,
            backbone=args.backbone,
            size=args.size,
            keras_cache=str(cache),
            n_params=int(model.count_params()),
        ),
    )


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("--arch", required=True, help="architecture name (for messages)")
    arguments.add_argument("--backbone", type=json_arg, required=True, help="backbone (JSON)")
    arguments.add_argument("--size", type=int, required=True)
    arguments.add_argument("--out", required=True)
    run(main, arguments, globals().get("snakemake"))
