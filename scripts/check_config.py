"""Check a config file without running anything: YAML syntax (file, line, column), every
schema problem, layer lists at every image size and the datasets' keys, one line each.

Snakemake reads --configfile before the workflow, so a missing file or a YAML syntax
error reaches the user as Snakemake's own message (docs/reruns-and-recovery.md,
"Messages for bad input"); this names the file and line:

    .venv/bin/python scripts/check_config.py my_config.yaml
"""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.workflow.config import prepare_config, read_config_file

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def main(args) -> None:
    prepare_config(read_config_file(args.configfile), SCHEMA)
    logging.getLogger("check_config").info("%s: no problem found", args.configfile)


if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("configfile")
    run(main, arguments)
