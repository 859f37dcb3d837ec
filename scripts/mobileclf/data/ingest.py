"""Ingest: one row per file under the data root, accepted or rejected with a reason.

Classes are the immediate sub-folders of the root (sorted: that order is the model's
output order and ``labels.txt``). Files in nested sub-folders belong to their top-level
class. Nothing here is fatal per file: unreadable files are listed, not raised; only
problems the user must fix (no root, fewer than two usable classes) raise.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mobileclf.data.images import ImageRejected, load_rgb
from mobileclf.data.tree import (
    LOOSE_FILE,
    UNSAFE_NAME,
    Walk,
    scan_root,
    snakemake_unsafe,
)
from mobileclf.errors import UserError

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
REJECTS_COLUMNS = ["path", "label", "reason"]


class IngestError(UserError):
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _group_lookup(options: IngestOptions, root: Path) -> dict[str, str]:
    if not options.group_csv:
        return {}
    try:
        table = pd.read_csv(options.group_csv, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise IngestError(
            f"cannot read ingest.group_csv {options.group_csv}: {error}; give a CSV file "
            "with a path and a group column (paths relative to the data root)"
        ) from error
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


def _group_pattern(options: IngestOptions) -> re.Pattern | None:
    if not options.group_pattern:
        return None
    try:
        return re.compile(options.group_pattern)
    except re.error as error:
        raise IngestError(
            f"ingest.group_pattern {options.group_pattern!r} is not a valid regular "
            f"expression: {error}"
        ) from error


def _group_of(relative: str, lookup: dict[str, str], pattern: re.Pattern | None) -> str:
    if lookup:
        return lookup.get(relative, "")
    if pattern is not None:
        match = pattern.search(Path(relative).name)
        return match.group(1) if match and match.groups() else (match.group(0) if match else "")
    return ""


def _check_class_name(name: str, root: Path) -> None:
    """Class names travel through labels.txt (one per line), CSVs and every path Snakemake
    lists: no edge whitespace, no wildcard braces."""
    if snakemake_unsafe(name):
        raise IngestError(
            f"class folder {name!r} under {root} contains '{{' or '}}', which Snakemake reads "
            "as a wildcard in every path of the class; rename the folder"
        )
    if name != name.strip() or any(c in name for c in "\r\n\t"):
        raise IngestError(
            f"class folder {name!r} under {root} starts or ends with white space or contains "
            "a line break or tab; rename the folder (the name becomes a line of labels.txt)"
        )


def _row(relative: str, label: str, group: str = "", status: str = "ok", reason: str = "") -> dict:
    return dict(
        path=relative,
        label=label,
        group=group,
        sha256="",
        pixel_sha256="",
        width=0,
        height=0,
        mode="",
        status=status,
        reason=reason,
    )


def _read_image(file: Path, row: dict, options: IngestOptions) -> None:
    """Fill ``row`` from the decoded image, or mark it rejected with the reason."""
    try:
        decoded = load_rgb(file, options.max_pixels, options.oversize)
    except ImageRejected as error:
        row.update(status="rejected", reason=str(error))
        return
    pixels = hashlib.sha256(decoded.rgb.tobytes() + str(decoded.rgb.shape).encode())
    notes = [decoded.note] if decoded.note else []
    if row["reason"]:
        notes.append(row["reason"])
    row.update(
        sha256=_sha256(file),
        pixel_sha256=pixels.hexdigest(),
        width=decoded.width,
        height=decoded.height,
        mode=decoded.mode,
        reason="; ".join(notes),
    )
    if min(decoded.rgb.shape[:2]) < options.min_side:
        row.update(
            status="rejected",
            reason=(
                f"{decoded.width}x{decoded.height} is smaller than ingest.min_side="
                f"{options.min_side}; lower ingest.min_side to upscale it instead"
            ),
        )


def ingest(
    root: str | Path, options: IngestOptions, dataset: str = "<name>"
) -> tuple[pd.DataFrame, list[str]]:
    """Scan ``root``; return the manifest and the sorted class names.

    Every entry under the root gets a row: accepted images with status ``ok``, everything
    else (hidden files, links not followed, unreadable files, duplicates) ``rejected``
    with the reason. Duplicate pixels within one class keep the first file; duplicates
    across classes reject every copy (the label is ambiguous and would leak between train
    and test). ``dataset`` (the config's name for it) makes messages name its keys.
    """
    root = Path(root)
    if not root.is_dir():
        raise IngestError(
            f"data root {root} does not exist or is not a folder; set datasets.{dataset}.root "
            "to a folder with one sub-folder per class"
        )
    lookup = _group_lookup(options, root)
    pattern = _group_pattern(options)
    walk = Walk(root, options.follow_symlinks, dataset)
    classes = scan_root(walk, _check_class_name)
    rows: list[dict] = []
    for file, label, skip_reason in walk.entries:
        relative = walk.relative(file)
        if not skip_reason and snakemake_unsafe(relative):
            skip_reason = UNSAFE_NAME
        if skip_reason:
            rows.append(_row(relative, label, status="rejected", reason=skip_reason))
            continue
        group = _group_of(relative, lookup, pattern)
        note = f"not in ingest.group_csv {options.group_csv}: its own group"
        row = _row(relative, label, group, reason=note if lookup and not group else "")
        _read_image(file, row, options)
        rows.append(row)
    manifest = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    _reject_duplicates(manifest)
    usable = sorted(manifest.loc[manifest.status == "ok", "label"].unique())
    _check_usable(manifest, root, classes, usable)
    return manifest, usable


def _check_usable(manifest: pd.DataFrame, root: Path, classes: list[str], usable: list[str]):
    """At least two classes with usable images, and no class folder without one."""
    if len(usable) < 2:
        loose = manifest[manifest.reason == LOOSE_FILE]
        hint = ""
        if len(loose):
            examples = ", ".join(loose.path.head(3))
            hint = (
                f" {len(loose)} file(s) lie directly under the root ({examples}): they need "
                "one sub-folder per class."
            )
        raise IngestError(
            f"{root} has {len(usable)} class folder(s) with usable images "
            f"({', '.join(usable) or 'none'}); "
            "a classifier needs at least two. Put each class's images in its own sub-folder." + hint
        )
    empty = [c for c in classes if c not in usable]
    if empty:
        rejected = manifest[manifest.label.isin(empty)].head(3)
        examples = "; ".join(f"{r.path}: {r.reason}" for r in rejected.itertuples())
        raise IngestError(
            f"class folder(s) {', '.join(repr(c) for c in empty)} under {root} contain no "
            "usable image; remove the folder or add images"
            + (f" (rejected: {examples})" if examples else " (the folder is empty)")
        )


def rejects_table(manifest: pd.DataFrame) -> pd.DataFrame:
    """The rejected rows only (path, label, reason): what the user may want to fix."""
    return manifest.loc[manifest.status == "rejected", REJECTS_COLUMNS].reset_index(drop=True)


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
