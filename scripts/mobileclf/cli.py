"""Shared command-line plumbing for the thin entry points in ``scripts/``.

Every entry point works from Snakemake (``shell:`` with ``--log``) and by hand. A user
error (an exception class listed in USER_ERRORS) ends the job with one clear line naming
the file or key and what to do, instead of a traceback; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from mobileclf.convert import ConversionError
from mobileclf.datasets import DataMismatch
from mobileclf.final import FinalSpecError
from mobileclf.images import ImageRejected
from mobileclf.ingest import IngestError
from mobileclf.mobile import MobileInputError
from mobileclf.selection import SelectionError
from mobileclf.splits import SplitError
from mobileclf.tflite_metadata import MetadataError
from mobileclf.verify_tflite import VerificationError


class UserError(Exception):
    """Bad input the user must fix; the message names the file or key and the fix."""


USER_ERRORS = (UserError, DataMismatch, IngestError, SplitError, SelectionError, ImageRejected)
USER_ERRORS += (ConversionError, FinalSpecError, MetadataError, VerificationError)
USER_ERRORS += (MobileInputError,)


def json_arg(text: str) -> object:
    """argparse type for the JSON snippets Snakemake passes (config sections)."""
    return json.loads(text)


def parser(description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--log", help="also write the log to this file")
    return result


def run(main: Callable[[argparse.Namespace], None], arguments: argparse.ArgumentParser) -> None:
    """Parse arguments, set up logging, run ``main``; turn user errors into clear exits."""
    args = arguments.parse_args()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log:
        handlers.append(logging.FileHandler(args.log, mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        handlers=handlers, force=True)
    try:
        main(args)
    except USER_ERRORS as error:
        logging.getLogger("mobileclf").error("%s", error)
        sys.exit(1)
