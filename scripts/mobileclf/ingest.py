"""Ingest: one row per file under the data root, accepted or rejected with a reason.

Classes are the immediate sub-folders of the root (sorted: that order is the model's
output order and ``labels.txt``). Files in nested sub-folders belong to their top-level
class. Nothing here is fatal per file: unreadable files are listed, not raised; only
problems the user must fix (no root, fewer than two usable classes) raise.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mobileclf.images import ImageRejected, load_rgb

MANIFEST_COLUMNS = [
    "path",
    "label",
    "group",
    "sha256",
    "pixel_sha256",
    "width",
    "height",
    "mode",
    "status",
    "reason",
]
HIDDEN_OR_SYSTEM = {"thumbs.db", "desktop.ini"}


class IngestError(Exception):
    """A problem with the dataset as a whole that the user must fix."""


@dataclass(frozen=True)
class IngestOptions:
    """The ``ingest`` section of a dataset's config (see the schema for meanings)."""

    max_pixels: int = 100_000_000
    oversize: str = "reject"
    min_side: int = 1
    follow_symlinks: bool = False
    group_csv: str | None = None
    group_csv_path_column: str = "path"
    group_csv_group_column: str = "group"
    group_pattern: str | None = None


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in HIDDEN_OR_SYSTEM


def _walk_class(class_dir: Path, root: Path, follow_symlinks: bool) -> Iterator[tuple[Path, str]]:
    """Yield (file, reason-if-skipped) under a class folder, in sorted order."""
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=follow_symlinks):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if _is_hidden(name):
                continue
            if file.is_symlink() and not follow_symlinks:
                target = file.resolve()
                if not target.is_relative_to(root.resolve()):
                    yield (
                        file,
                        (
                            f"symlink to {target} outside the data root is not followed "
                            "(set ingest.follow_symlinks: true to allow)"
                        ),
                    )
                    continue
            yield file, ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _group_lookup(options: IngestOptions, root: Path) -> dict[str, str]:
    if not options.group_csv:
        return {}
    table = pd.read_csv(options.group_csv, dtype=str)
    for column in (options.group_csv_path_column, options.group_csv_group_column):
        if column not in table.columns:
            raise IngestError(
                f"group CSV {options.group_csv} has no column {column!r} "
                f"(columns: {', '.join(table.columns)}); fix ingest.group_csv_*_column"
            )
    return dict(
        zip(
            table[options.group_csv_path_column], table[options.group_csv_group_column], strict=True
        )
    )


def _group_of(relative: str, lookup: dict[str, str], pattern: re.Pattern | None) -> str:
    if lookup:
        return lookup.get(relative, "")
    if pattern is not None:
        match = pattern.search(Path(relative).name)
        return match.group(1) if match and match.groups() else (match.group(0) if match else "")
    return ""


def ingest(root: str | Path, options: IngestOptions) -> tuple[pd.DataFrame, list[str]]:
    """Scan ``root``; return the manifest and the sorted class names.

    Duplicate pixels within one class keep the first file; duplicates across classes
    reject every copy (the label is ambiguous and would leak between train and test).
    """
    root = Path(root)
    if not root.is_dir():
        raise IngestError(
            f"data root {root} does not exist or is not a folder; set datasets.<name>.root "
            "to a folder with one sub-folder per class"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not _is_hidden(p.name))
    loose = sorted(p.name for p in root.iterdir() if p.is_file() and not _is_hidden(p.name))
    lookup = _group_lookup(options, root)
    pattern = re.compile(options.group_pattern) if options.group_pattern else None
    rows: list[dict] = [
        dict(
            path=name,
            label="",
            group="",
            sha256="",
            pixel_sha256="",
            width=0,
            height=0,
            mode="",
            status="rejected",
            reason="file directly under the data root has no class folder",
        )
        for name in loose
    ]
    for label in classes:
        for file, skip_reason in _walk_class(root / label, root, options.follow_symlinks):
            relative = file.relative_to(root).as_posix()
            row = dict(
                path=relative,
                label=label,
                group=_group_of(relative, lookup, pattern),
                sha256="",
                pixel_sha256="",
                width=0,
                height=0,
                mode="",
                status="ok",
                reason="",
            )
            if skip_reason:
                row.update(status="rejected", reason=skip_reason)
                rows.append(row)
                continue
            try:
                if file.is_dir():
                    raise ImageRejected("is a directory")
                decoded = load_rgb(file, options.max_pixels, options.oversize)
                row.update(
                    sha256=_sha256(file),
                    pixel_sha256=hashlib.sha256(
                        decoded.rgb.tobytes() + str(decoded.rgb.shape).encode()
                    ).hexdigest(),
                    width=decoded.width,
                    height=decoded.height,
                    mode=decoded.mode,
                    reason=decoded.note,
                )
                if min(decoded.rgb.shape[:2]) < options.min_side:
                    row.update(
                        status="rejected",
                        reason=(
                            f"{decoded.width}x{decoded.height} is smaller than ingest.min_side="
                            f"{options.min_side}"
                        ),
                    )
            except ImageRejected as error:
                row.update(status="rejected", reason=str(error))
            rows.append(row)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    _reject_duplicates(manifest)
    usable = sorted(manifest.loc[manifest.status == "ok", "label"].unique())
    empty = [c for c in classes if c not in usable]
    if len(usable) < 2:
        raise IngestError(
            f"{root} has {len(usable)} class folder(s) with usable images "
            f"({', '.join(usable) or 'none'}); a classifier needs at least two. "
            "Put each class's images in its own sub-folder."
        )
    if empty:
        raise IngestError(
            f"class folder(s) {', '.join(empty)} under {root} contain no usable image; "
            "remove the folder or add images (see the rejects in the manifest)"
        )
    return manifest, usable


def _reject_duplicates(manifest: pd.DataFrame) -> None:
    ok = manifest[manifest.status == "ok"]
    for _digest, same in ok.groupby("pixel_sha256"):
        if len(same) < 2:
            continue
        if same.label.nunique() > 1:
            where = ", ".join(same.path)
            manifest.loc[same.index, ["status", "reason"]] = [
                "rejected",
                f"same pixels in different classes ({where}): label is ambiguous",
            ]
        else:
            first = same.path.iloc[0]
            manifest.loc[same.index[1:], ["status", "reason"]] = [
                "rejected",
                f"duplicate of {first} (same pixels)",
            ]
