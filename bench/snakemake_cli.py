"""The one place that builds a command line running this repository's workflow.

Shared by the tests (tests/conftest.py puts bench/ on sys.path) and the bench scripts, so
the order rules below are written once:

* targets come FIRST: several Snakemake options take any number of values (``--quiet``,
  ``--default-resources``, ``--configfile``) and would swallow targets placed after them;
* ``--configfile`` comes LAST for the same reason (Snakemake 9 takes several config files);
* ``--cores`` is set here only, so every run of a suite or a bench uses the cores it asked
  for (the tests: 2, the size of the CI machine).

Standard library only: importing it must not cost a test or a bench anything.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")


def snakemake_command(
    workdir: Path,
    configfiles: Path | Iterable[Path],
    *targets: str,
    cores: int = 2,
    options: Iterable[str] = (),
) -> list[str]:
    """argv of ``snakemake`` running the repository's Snakefile in ``workdir``.

    ``targets`` are output paths or rule names; ``options`` any other Snakemake flags
    (never ``--cores``/``-j``/``--configfile``: they are set here).
    """
    options = list(options)
    for flag in ("--cores", "-c", "-j", "--jobs", "--configfile", "--configfiles"):
        if flag in options:
            raise ValueError(f"{flag} is set by snakemake_command, not by its caller")
    if isinstance(configfiles, str | Path):
        configfiles = [configfiles]
    return [
        SNAKEMAKE,
        *targets,
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        str(cores),
        *options,
        "--configfile",
        *(str(path) for path in configfiles),
    ]


def snakemake_env(base: dict | None = None) -> dict:
    """The workflow's rules call ``python``: put this interpreter's environment first."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
