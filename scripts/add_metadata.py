"""Pack image-classifier metadata and labels.txt into one TFLite variant; read it back and check.

Writes the deployable model and the metadata as read back (JSON). Refuses a labels file
whose class count differs from the model's outputs.
"""

import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf import atomic
from mobileclf.cli import json_arg, parser, run


def main(args) -> None:
    from mobileclf.export.convert import VARIANT_INFO
    from mobileclf.export.metadata import GeneralFields, add_metadata, check_metadata, read_metadata

    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    fields = GeneralFields.from_config(args.metadata)
    model = add_metadata(Path(args.model).read_bytes(), fields, args.labels)
    read_back = read_metadata(model)
    check_metadata(
        read_back, fields, spec["labels"], spec["size"], VARIANT_INFO[args.variant].input_dtype
    )
    read_back.update(
        variant=args.variant,
        bytes=len(model),
        in_model_normalization={
            key: spec[key] for key in ("input_scale", "input_mean", "input_std")
        },
    )
    logging.getLogger("metadata").info("%s: metadata checked, %d bytes", args.variant, len(model))
    atomic.write_with(args.out, lambda p: p.write_bytes(model))
    atomic.write_json(args.read_back, read_back)


if __name__ == "__main__":
    arguments = parser(__doc__)
    for name in ("model", "spec", "labels", "variant", "out", "read-back"):
        arguments.add_argument(f"--{name}", required=True)
    arguments.add_argument(
        "--metadata",
        type=json_arg,
        required=True,
        help="export.metadata section (JSON): name, version, description, author, license",
    )
    run(main, arguments, globals().get("snakemake"))
