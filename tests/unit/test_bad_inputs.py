"""Messy data folders and bad configs: every case gets a clear answer naming the file or key.

Fast unit tests on ingest()/make_splits()/load_rgb()/config_problems(); the dry run and the
real Snakemake run of a messy folder with non-ASCII and space-containing names are in
tests/workflow/test_bad_inputs_run.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from helpers import add_images, noise
from PIL import Image

from mobileclf.data.images import load_rgb
from mobileclf.data.ingest import IngestError, IngestOptions, ingest, rejects_table
from mobileclf.data.resize import resize_all
from mobileclf.data.split import SplitError, SplitOptions, make_splits, read_table
from mobileclf.workflow.config import config_problems, load_schema

SCHEMA = load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml")
OPTIONS = IngestOptions()


def two_class_root(tmp_path: Path, per_class: int = 6) -> Path:
    root = tmp_path / "data"
    add_images(root / "a", per_class, 1)
    add_images(root / "b", per_class, 2)
    return root


def row(manifest: pd.DataFrame, path: str) -> pd.Series:
    found = manifest[manifest.path == path]
    assert len(found) == 1, f"{path} not in manifest: {manifest.path.tolist()}"
    return found.iloc[0]


def rejected_reason(manifest: pd.DataFrame, path: str) -> str:
    entry = row(manifest, path)
    assert entry.status == "rejected", f"{path} was accepted"
    return entry.reason


# ---------------------------------------------------------------- unreadable files


def test_damaged_and_fake_files_are_rejected_and_listed(tmp_path):
    root = two_class_root(tmp_path)
    Image.fromarray(noise(9, 64)).save(root / "a" / "trunc.jpg", quality=90)
    data = (root / "a" / "trunc.jpg").read_bytes()
    (root / "a" / "trunc.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(noise(10, 64)).save(root / "a" / "trunc.png")
    data = (root / "a" / "trunc.png").read_bytes()
    (root / "a" / "trunc.png").write_bytes(data[: len(data) // 2])
    (root / "a" / "empty.png").write_bytes(b"")
    (root / "b" / "notes.png").write_text("patient list, not an image")
    (root / "b" / "scan.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 64)
    (root / "b" / "folder.png").mkdir()
    Image.fromarray(noise(11)).save(root / "b" / "folder.png" / "inside.png")
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]
    assert "truncated" in rejected_reason(manifest, "a/trunc.jpg")
    assert "cannot decode" in rejected_reason(manifest, "a/trunc.png")
    assert "empty file (0 bytes)" in rejected_reason(manifest, "a/empty.png")
    assert "not an image" in rejected_reason(manifest, "b/notes.png")
    assert "DICOM" in rejected_reason(manifest, "b/scan.dcm")
    assert "folder named like an image" in rejected_reason(manifest, "b/folder.png")
    assert "b/folder.png/inside.png" not in set(manifest.path)
    assert (manifest.status == "ok").sum() == 12
    rejects = rejects_table(manifest)
    assert list(rejects.columns) == ["path", "label", "reason"]
    assert len(rejects) == 6 and rejects.reason.str.len().min() > 10


def test_hidden_and_system_files_are_listed_not_read(tmp_path):
    root = two_class_root(tmp_path)
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "a" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "a" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (root / "b" / "._img000.png").write_bytes(b"\0\5\26\7AppleDouble")
    (root / "__MACOSX").mkdir()
    (root / "loose.png").write_bytes((root / "a" / "img000.png").read_bytes())
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["a", "b"]  # __MACOSX is not a class
    for path in (".DS_Store", "a/.DS_Store", "a/Thumbs.db", "b/._img000.png", "__MACOSX"):
        assert "hidden or system" in rejected_reason(manifest, path)
    assert "no class folder" in rejected_reason(manifest, "loose.png")


# ---------------------------------------------------------------- image modes


def test_every_image_mode_is_accepted_with_one_decoding_rule(tmp_path):
    root = two_class_root(tmp_path)
    folder = root / "a"
    Image.fromarray(np.array([[0, 4000], [8000, 65535]], dtype=np.uint16)).save(folder / "g16.png")
    Image.new("CMYK", (8, 4), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    palette = Image.new("P", (3, 3), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.save(folder / "pal.png", transparency=0)
    la = np.stack([np.full((5, 5), 90, np.uint8), np.full((5, 5), 255, np.uint8)], -1)
    Image.fromarray(la, "LA").save(folder / "la.png")
    frames = [Image.new("RGB", (6, 6), colour) for colour in ((250, 0, 0), (0, 250, 0))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:])
    wide = Image.fromarray(noise(5, 8)[:4])  # 8 wide, 4 high
    exif = wide.getexif()
    exif[0x0112] = 6  # displayed rotated by 90°
    wide.save(folder / "phone.jpg", exif=exif)
    manifest, _ = ingest(root, OPTIONS)
    for name, mode in [
        ("g16.png", "I;16"),
        ("cmyk.jpg", "CMYK"),
        ("pal.png", "P"),
        ("la.png", "LA"),
        ("anim.gif", "P"),
        ("phone.jpg", "RGB"),
    ]:
        entry = row(manifest, f"a/{name}")
        assert entry.status == "ok", (name, entry.reason)
        assert entry["mode"] == mode
    assert "animated (2 frames): first frame used" in row(manifest, "a/anim.gif").reason
    gif = load_rgb(folder / "anim.gif").rgb
    assert gif[0, 0, 0] > 200 and gif[0, 0, 1] < 30  # the first (red) frame
    assert load_rgb(folder / "phone.jpg").rgb.shape == (8, 4, 3)  # EXIF rotation applied
    assert load_rgb(folder / "g16.png").rgb[..., 0].max() == 255


# ---------------------------------------------------------------- oversize and tiny


def constant_png(path: Path, side: int) -> None:
    """A side×side grey PNG written in blocks of rows: under 2 MB on disk, side² pixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    compressor = zlib.compressobj(1)
    rows = (b"\0" + b"\x80" * side) * 500
    parts = [compressor.compress(rows) for _ in range(side // 500)] + [compressor.flush()]
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def decode_in_subprocess(path: Path, max_pixels: int, oversize: str) -> dict:
    """load_rgb in a fresh interpreter; its outcome and its own peak resident memory (MB)."""
    code = f"""
import json, sys
sys.path.insert(0, {str(REPO / "scripts")!r})
from mobileclf.data.images import ImageRejected, load_rgb
try:
    decoded = load_rgb({str(path)!r}, {max_pixels}, {oversize!r})
    out = dict(shape=list(decoded.rgb.shape), note=decoded.note)
except ImageRejected as error:
    out = dict(rejected=str(error))
# VmHWM is this process image's own peak; ru_maxrss would carry the (large) test
# process's peak over through fork and exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
out["peak_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def test_20000_pixel_square_png_never_exhausts_memory(tmp_path):
    path = tmp_path / "bomb.png"
    constant_png(path, 20000)
    assert path.stat().st_size < 2_000_000  # 400 megapixels in under 2 MB
    rejected = decode_in_subprocess(path, 100_000_000, "reject")
    assert "20000x20000 pixels exceeds ingest.max_pixels=100000000" in rejected["rejected"]
    assert "ingest.oversize: downscale" in rejected["rejected"]
    # PNG cannot be decoded at reduced scale: still rejected, with what to do instead
    downscale = decode_in_subprocess(path, 100_000_000, "downscale")
    assert "cannot be decoded at reduced scale" in downscale["rejected"]
    for outcome in (rejected, downscale):
        assert outcome["peak_mb"] < 250, outcome  # the full bitmap would be 1200 MB


def test_oversize_jpeg_is_downscaled_while_decoding(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("L", (8000, 6000), 120).save(path, quality=80)
    outcome = decode_in_subprocess(path, 1_000_000, "downscale")
    height, width, _ = outcome["shape"]
    assert width * height <= 1_000_000 and width / height == pytest.approx(8000 / 6000, rel=0.01)
    assert "downscaled from 8000x6000" in outcome["note"]
    assert outcome["peak_mb"] < 250  # 8000x6000 RGB would be 144 MB on top of the baseline
    rejected = decode_in_subprocess(path, 1_000_000, "reject")
    assert "exceeds ingest.max_pixels=1000000" in rejected["rejected"]


def test_tiny_images_are_upscaled_with_a_warning_or_rejected_by_min_side(tmp_path, caplog):
    root = two_class_root(tmp_path)
    Image.fromarray(noise(77, 4)).save(root / "a" / "tiny.png")
    manifest, _ = ingest(root, OPTIONS)
    assert row(manifest, "a/tiny.png").status == "ok"
    with caplog.at_level("WARNING"):
        array = resize_all([root / "a" / "tiny.png"], 16, "stretch", "bilinear", 10**8, "reject")
    assert array.shape == (1, 16, 16, 3)
    assert "is 4x4, upscaled to 16" in caplog.text
    manifest, _ = ingest(root, IngestOptions(min_side=8))
    reason = rejected_reason(manifest, "a/tiny.png")
    assert "4x4 is smaller than ingest.min_side=8" in reason
    assert (manifest.status == "ok").sum() == 12  # the 12x12 images pass


# ---------------------------------------------------------------- names, links, layout


def test_non_ascii_and_space_names_nested_folders_and_number_like_classes(tmp_path):
    root = tmp_path / "données brutes"
    add_images(root / "Covid 19", 3, 1, " scan é.png")
    add_images(root / "Covid 19" / "patient 7" / "série 2", 3, 2)
    add_images(root / "01", 6, 3)
    manifest, labels = ingest(root, OPTIONS)
    assert labels == ["01", "Covid 19"]
    assert (manifest.status == "ok").sum() == 12
    nested = manifest[manifest.path.str.startswith("Covid 19/patient 7/série 2/")]
    assert len(nested) == 3 and set(nested.label) == {"Covid 19"}
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    again = read_table(tmp_path / "manifest.csv")
    assert set(again.label) == {"01", "Covid 19"}  # "01" is not read back as the number 1


def test_class_name_with_edge_whitespace_is_refused(tmp_path):
    root = two_class_root(tmp_path)
    add_images(root / "c ", 6, 3)
    with pytest.raises(IngestError, match=r"'c ' .*white space"):
        ingest(root, OPTIONS)


def test_symlinks_outside_the_root_are_not_followed_unless_allowed(tmp_path):
    root = two_class_root(tmp_path)
    outside = tmp_path / "elsewhere"
    add_images(outside, 2, 8)
    add_images(outside / "more", 2, 9)
    (root / "a" / "link.png").symlink_to(outside / "img000.png")
    (root / "a" / "linkdir").symlink_to(outside / "more", target_is_directory=True)
    (root / "a" / "broken.png").symlink_to(tmp_path / "gone.png")
    (root / "b" / "inside.png").symlink_to(root / "a" / "img001.png")
    (root / "b" / "loop").symlink_to(root / "b", target_is_directory=True)
    manifest, _ = ingest(root, OPTIONS)
    assert "outside the data root is not followed" in rejected_reason(manifest, "a/link.png")
    assert "follow_symlinks: true" in rejected_reason(manifest, "a/linkdir")
    assert "broken symlink" in rejected_reason(manifest, "a/broken.png")
    # a link inside the root never relabels: the image stays in its own class only
    assert "not part of class 'b'" in rejected_reason(manifest, "b/inside.png")
    assert row(manifest, "a/img001.png").status == "ok"
    assert "already read" in rejected_reason(manifest, "b/loop")
    followed, _ = ingest(root, IngestOptions(follow_symlinks=True))
    assert row(followed, "a/link.png").status == "ok"
    assert row(followed, "a/linkdir/img000.png").status == "ok"
    assert "already read" in rejected_reason(followed, "b/loop")


def test_duplicates_within_and_across_classes(tmp_path):
    root = two_class_root(tmp_path)
    source = (root / "a" / "img000.png").read_bytes()
    (root / "a" / "copy.png").write_bytes(source)
    (root / "b" / "img000.png").unlink()
    Image.open(root / "a" / "img001.png").save(root / "b" / "same_pixels.bmp")
    manifest, _ = ingest(root, OPTIONS)
    assert "duplicate of a/copy.png" in rejected_reason(manifest, "a/img000.png")
    assert row(manifest, "a/copy.png").status == "ok"
    for path in ("a/img001.png", "b/same_pixels.bmp"):
        assert "same pixels in different classes" in rejected_reason(manifest, path)


# ---------------------------------------------------------------- dataset-level problems


def test_missing_root_empty_class_and_single_class_are_errors(tmp_path):
    with pytest.raises(IngestError, match=r"nowhere does not exist.*datasets.<name>.root"):
        ingest(tmp_path / "nowhere", OPTIONS)
    root = two_class_root(tmp_path)
    (root / "empty class").mkdir()
    with pytest.raises(
        IngestError, match=r"'empty class' under .* no usable image.*the folder is empty"
    ):
        ingest(root, OPTIONS)
    (root / "empty class").rmdir()
    (root / "b" / "img000.png").rename(root / "img000.png")
    for path in (root / "b").iterdir():
        path.unlink()
    (root / "b").rmdir()
    with pytest.raises(
        IngestError, match=r"1 class folder\(s\) with usable images \(a\).*at least two"
    ):
        ingest(root, OPTIONS)


def test_group_options_errors_name_the_key(tmp_path):
    root = two_class_root(tmp_path)
    with pytest.raises(IngestError, match=r"cannot read ingest.group_csv"):
        ingest(root, IngestOptions(group_csv=str(tmp_path / "missing.csv")))
    with pytest.raises(IngestError, match=r"ingest.group_pattern"):
        ingest(root, IngestOptions(group_pattern="(unclosed"))
    pd.DataFrame({"path": ["a/img000.png"], "group": ["p1"]}).to_csv(
        tmp_path / "g.csv", index=False
    )
    manifest, _ = ingest(root, IngestOptions(group_csv=str(tmp_path / "g.csv")))
    assert row(manifest, "a/img000.png").group == "p1"
    assert "not in ingest.group_csv" in row(manifest, "a/img001.png").reason


def manifest_of(counts: dict[str, int]) -> pd.DataFrame:
    rows = [
        dict(path=f"{label}/{i}.png", label=label, group="", status="ok")
        for label, count in counts.items()
        for i in range(count)
    ]
    return pd.DataFrame(rows)


def test_split_problems_name_the_class_and_the_key():
    with pytest.raises(SplitError, match=r"'b' has 3 image.*split.folds"):
        make_splits(manifest_of({"a": 20, "b": 3}), SplitOptions(folds=5))
    with pytest.raises(SplitError, match=r"split.folds=1"):
        make_splits(manifest_of({"a": 20, "b": 20}), SplitOptions(folds=1))
    with pytest.raises(SplitError, match=r"holdout.*leaves class\(es\) b without a holdout image"):
        make_splits(manifest_of({"a": 60, "b": 3}), SplitOptions(folds=2, holdout_fraction=0.05))
    grouped = manifest_of({"a": 12, "b": 12})
    grouped["group"] = ["p1", "p2"] * 12
    with pytest.raises(SplitError, match=r"holdout \(split.holdout_fraction\).*number of groups"):
        make_splits(grouped, SplitOptions(folds=3))
    # a tiny dataset still gets one validation image per class instead of a crash
    splits = make_splits(manifest_of({"a": 6, "b": 6}), SplitOptions(folds=2, val_fraction=0.1))
    assert set(splits[splits.fold0 == "val"].label) == {"a", "b"}


# ---------------------------------------------------------------- config


def valid_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["split"].update(fold=3), "split.fold: unknown key; did you mean 'folds'?"),
        (
            lambda c: c.update(trainig=c.pop("training")),
            "trainig: unknown key; did you mean 'training'?",
        ),
        (lambda c: c.update(epochs=3), "'epochs' belongs under 'training.epochs'"),
        (
            lambda c: (
                c["datasets"]["demo"]["ingest"]
                if False
                else c["datasets"]["demo"].update(ingest={"max_pixel": 5})
            ),
            "datasets.demo.ingest.max_pixel: unknown key; did you mean 'max_pixels'?",
        ),
        (
            lambda c: c["split"].update(folds="three"),
            "split.folds: must be a whole number, not 'three'",
        ),
        (
            lambda c: c["split"].update(folds=1),
            "split.folds: 1 is too small; it must be at least 2",
        ),
        (
            lambda c: c["resize"].update(sizes=[4, 32]),
            "resize.sizes[0]: 4 is too small; it must be at least 8",
        ),
        (
            lambda c: c["resize"].update(sizes=[32, 4096]),
            "resize.sizes[1]: 4096 is too large; it must be at most 1024",
        ),
        (lambda c: c["resize"].update(mode="strech"), "did you mean 'stretch'?"),
        (
            lambda c: c["training"].update(epochs=2.5),
            "training.epochs: must be a whole number, not 2.5",
        ),
        (lambda c: c["datasets"].update(x={"demo_per_class": 9}), "datasets.x: give either 'root:"),
        (lambda c: c["datasets"].update({"my data": {"demo": True}}), "names start with a letter"),
        # export's keys belong to export only, not to the mobile stage
        (lambda c: c["mobile"].update(tolerance=0.1), "mobile.tolerance: unknown key"),
        (
            lambda c: c["mobile"].update(thresholds={"license": "MIT"}),
            "mobile.thresholds.license: unknown key",
        ),
    ],
)
def test_config_mistakes_name_the_key_and_the_fix(change, expected):
    config = valid_config()
    assert config_problems(config, SCHEMA) == []
    change(config)
    problems = config_problems(config, SCHEMA)
    assert any(expected in line for line in problems), problems
    assert all(len(line) < 400 for line in problems)


# ---------------------------------------------------------------- end to end
