"""The walk of a data root for ingest: which entry belongs to which class, and why not.

Symlinks are resolved, and a link never adds an image a second time or under another
class: the real tree is read first, links after it, so a link cannot make the folder it
points to look "already read" (and vanish). A link inside the root is then a duplicate
(its target, in the same class, was read through its real path), a relabel (its target
belongs to another class: listed, not read) or a loop (it points to a folder containing
it: the root or an ancestor). A link outside the root is read only with
``ingest.follow_symlinks``, and a file reached twice is a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HIDDEN_OR_SYSTEM = {"thumbs.db", "desktop.ini", "__macosx", "$recycle.bin"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".dcm"}
# written by Snakemake into directory() outputs such as the generated demo data: not a user file
WORKFLOW_FILES = {".snakemake_timestamp"}
LOOSE_FILE = (
    "file directly under the data root has no class folder; move it into its class's sub-folder"
)
UNSAFE_NAME = (
    "the path contains '{' or '}', which Snakemake reads as a wildcard; not read: rename "
    "the file or folder"
)


def is_hidden(name: str) -> bool:
    return name.startswith(".") or name.lower() in HIDDEN_OR_SYSTEM


def snakemake_unsafe(path: str) -> bool:
    """True for a path Snakemake cannot take as an input file: ``{`` and ``}`` mark wildcards
    in every path a rule lists (ingest lists each image), so ``{wild}.png`` would stop the
    whole workflow with a WildcardError instead of being one rejected file."""
    return "{" in path or "}" in path


@dataclass
class Walk:
    """One scan: (path as reached, class, reason-if-skipped) per entry, in reading order.

    ``reached`` maps each resolved file to the path it was first read through (a file
    reached twice is a duplicate); ``walked`` holds the real folders outside the root
    already walked through a link (two links to one folder, or links that point at each
    other, would otherwise read it twice or forever).
    """

    root: Path
    follow_symlinks: bool
    dataset: str = "<name>"
    entries: list[tuple[Path, str, str]] = field(default_factory=list)
    reached: dict[Path, str] = field(default_factory=dict)
    walked: set[Path] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.real_root = self.root.resolve()

    def relative(self, entry: Path) -> str:
        return entry.relative_to(self.root).as_posix()

    def add(self, entry: Path, label: str, reason: str = "") -> None:
        if not reason:
            real = entry.resolve()
            if real in self.reached:
                reason = f"duplicate of {self.reached[real]} (the same file, reached twice)"
            else:
                self.reached[real] = self.relative(entry)
        self.entries.append((entry, label, reason))


def walk_folder(walk: Walk, folder: Path, label: str) -> None:
    """Every entry under ``folder`` (class ``label``), sorted; its symlinks after it."""
    links: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if is_hidden(entry.name):
            kind = "folder" if entry.is_dir() else "file"
            walk.add(entry, label, f"hidden or system {kind}, skipped")
        elif entry.is_symlink():
            links.append(entry)
        elif entry.is_dir() and entry.suffix.lower() in IMAGE_SUFFIXES:
            walk.add(
                entry,
                label,
                "a folder named like an image file, not read; rename it if it holds images "
                "of this class",
            )
        elif entry.is_dir():
            walk_folder(walk, entry, label)
        else:
            walk.add(entry, label)
    for link in links:
        follow_link(walk, link, label)


def _inside_reason(walk: Walk, link: Path, target: Path, label: str) -> str:
    """Why a link to ``target`` inside the root is not read (its target is read already)."""
    where = target.relative_to(walk.real_root).as_posix()
    other = target.relative_to(walk.real_root).parts[0]
    if not label:
        return (
            f"class folder is a symlink to {where} inside the data root: those images are "
            f"read under their real class {other!r}, a link must not relabel them; not read"
        )
    if other != label:
        return (
            f"symlink into {where} (class {other!r}), not part of class {label!r}: a link "
            "must not relabel images; not read (move the images into the class they "
            "belong to)"
        )
    if any(is_hidden(part) for part in target.relative_to(walk.real_root).parts):
        return f"symlink to {where}, a hidden or system file or folder, which is not read"
    kind = "the folder " if target.is_dir() else ""
    return f"duplicate of {kind}{where} (a symlink to it within the class; read there)"


def follow_link(walk: Walk, link: Path, label: str) -> None:
    """A symlink under class ``label`` (empty: directly under the root): read or listed."""
    target = link.resolve()
    if not target.exists():
        walk.add(link, label, f"broken symlink to {target}; fix or remove the link")
    elif target.is_dir() and link.parent.resolve().is_relative_to(target):
        walk.add(
            link,
            label,
            f"symlink loop: {link.name} points to {target}, a folder that contains it "
            "(already read through its real path); skipped",
        )
    elif target.is_relative_to(walk.real_root):
        walk.add(link, label, _inside_reason(walk, link, target, label))
    elif not walk.follow_symlinks:
        walk.add(
            link,
            label,
            f"symlink to {target} outside the data root is not followed (set "
            f"datasets.{walk.dataset}.ingest.follow_symlinks: true to allow)",
        )
    elif target.is_dir() and target in walk.walked:
        walk.add(link, label, "folder already read through another path (symlink loop); skipped")
    elif target.is_dir():
        walk.walked.add(target)
        walk_folder(walk, link, label)
    else:
        walk.add(link, label)


def scan_root(walk: Walk, check_class_name) -> list[str]:
    """Walk every class folder (the root's immediate sub-folders); return their names.

    Entries directly under the root that are not class folders get a row with the reason;
    a class folder that is a symlink is read only when it leads outside the root (with
    ``follow_symlinks``), otherwise it is a loop or a relabel and listed.
    """
    classes: list[str] = []
    for entry in sorted(walk.root.iterdir(), key=lambda p: p.name):
        if entry.name in WORKFLOW_FILES:
            continue
        if is_hidden(entry.name):
            kind = "folder" if entry.is_dir() else "file"
            walk.add(entry, "", f"hidden or system {kind}, skipped")
        elif entry.is_symlink() and (
            not entry.is_dir()
            or entry.resolve().is_relative_to(walk.real_root)
            or not walk.follow_symlinks
        ):
            if entry.is_dir() or not entry.exists():
                follow_link(walk, entry, "")
            else:
                walk.add(entry, "", LOOSE_FILE)
        elif not entry.is_dir():
            walk.add(entry, "", LOOSE_FILE)
        else:
            check_class_name(entry.name, walk.root)
            classes.append(entry.name)
            walk_folder(walk, entry, entry.name)
    return classes
