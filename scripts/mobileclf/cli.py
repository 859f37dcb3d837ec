"""Shared plumbing for the thin entry points in ``scripts/``.

Each entry point is one argparse program that runs two ways:

* by hand: ``python scripts/train_cv.py --images ... --log train.log``;
* from a rule's ``script:`` directive: :func:`run` turns the rule's named ``input``,
  ``output``, ``params`` and ``wildcards`` into the same ``--name value`` flags (underscores
  become dashes; wildcards only where the program has such a flag), ``threads`` into
  ``--threads`` and ``log`` into ``--log``. So the rule and the command line cannot drift.
  A rule whose ``gpu`` resource is 0 gets no GPU: ``CUDA_VISIBLE_DEVICES`` is emptied
  before TensorFlow loads, so jobs the scheduler gave no GPU never crowd the one it gave
  to others.

A user error (:class:`mobileclf.errors.UserError`, or a stage's subclass of it) ends the job
with one clear line naming the file or key and what to do, instead of a traceback; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

from mobileclf.errors import UserError


def json_arg(text: str) -> object:
    """argparse type for the JSON snippets rules pass (config sections)."""
    return json.loads(text)


def parser(description: str) -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--log", help="also write the log to this file")
    return result


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def argv_from_snakemake(smk, arguments: argparse.ArgumentParser) -> list[str]:
    """The command line equivalent to a rule's named inputs, outputs, params and wildcards."""
    known = {flag for action in arguments._actions for flag in action.option_strings}
    argv: list[str] = []
    for section in (smk.input, smk.output, smk.params):
        for name, value in section.items():
            values = value if isinstance(value, list) else [value]
            argv += [_flag(name), *(str(v) for v in values)]
    for name, value in smk.wildcards.items():
        if _flag(name) in known and _flag(name) not in argv:
            argv += [_flag(name), str(value)]
    if "--threads" in known:
        argv += ["--threads", str(smk.threads)]
    if smk.log:
        argv += ["--log", str(smk.log[0])]
    return argv


def _redirect_to(path: str) -> None:
    """Send this process's stdout/stderr (TensorFlow's C++ logs included) to the rule's log."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(handle, 1)
    os.dup2(handle, 2)
    os.close(handle)


def run(
    main: Callable[[argparse.Namespace], None], arguments: argparse.ArgumentParser, smk=None
) -> None:
    """Parse arguments (or a rule's ``snakemake`` object), log, run ``main``; user errors exit 1."""
    if smk is not None:
        if str(smk.resources.get("gpu", "")) == "0":
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        argv = argv_from_snakemake(smk, arguments)
        sys.argv[1:] = argv  # as if typed: the job's flags, for anyone reading sys.argv
        args = arguments.parse_args(argv)
        if args.log:
            _redirect_to(args.log)
            args.log = None  # already captured through the redirected stderr
    else:
        args = arguments.parse_args()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if args.log:
        handlers.append(logging.FileHandler(args.log, mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        main(args)
    except UserError as error:
        logging.getLogger("mobileclf").error("%s", error)
        sys.exit(1)
