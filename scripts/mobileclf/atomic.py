"""Atomic file writes: a reader sees the old file or the complete new one, never half.

Snakemake already discards outputs of failed jobs, but a killed process can leave a
partly written file that a user's own script (or a rerun with --touch) would read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; move it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(handle)
    # mkstemp creates 0600; published results should get the usual umask-based mode
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: object) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write ``path`` with ``writer(temporary_path)`` (e.g. DataFrame.to_csv)."""
    with atomic_path(path) as temporary:
        writer(temporary)


def write_npy(path: str | Path, array) -> None:
    """np.save through a handle: given a path, NumPy would append ``.npy`` to the temporary."""
    import numpy as np

    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, array)


def _jsonable(value: object) -> object:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
