"""Serve results/{dataset}/phone_check/page/ over HTTPS to a phone and save what it
measures in results/{dataset}/phone_check/measured/ (docs/phone-check.md).

    python scripts/serve_phone_check.py results/demo          # this computer only
    python scripts/serve_phone_check.py results/demo --lan    # a phone on the same network
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mobileclf.cli import parser, run
from mobileclf.phone_check.server import serve

if __name__ == "__main__":
    arguments = parser(__doc__)
    arguments.add_argument("results", help="the dataset's results folder, e.g. results/demo")
    arguments.add_argument("--lan", action="store_true", help="serve the local network too")
    arguments.add_argument("--host", default="127.0.0.1", help="bind address without --lan")
    arguments.add_argument("--port", type=int, default=8443, help="0: any free port")
    run(serve, arguments)
