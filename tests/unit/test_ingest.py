"""Ingest: manifest rows, rejects with reasons, duplicates, class order, group ids."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mobileclf.data.ingest import MANIFEST_COLUMNS, IngestError, IngestOptions, ingest


def _image(path, value, size=(8, 8), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    pixels[0, 0] = (value * 7) % 256  # make images distinct beyond the constant
    Image.fromarray(pixels).convert(mode).save(path)


def test_manifest_lists_every_file_with_status_and_reason(tmp_path):
    root = tmp_path / "data"
    _image(root / "b_class" / "one.png", 10)
    _image(root / "b_class" / "two.png", 20, mode="RGBA")
    _image(root / "a_class" / "sub" / "three.png", 30, mode="L")
    (root / "a_class" / "notes.png").write_text("not an image")
    (root / "a_class" / ".DS_Store").write_bytes(b"\0")
    manifest, labels = ingest(root, IngestOptions())
    assert list(manifest.columns) == MANIFEST_COLUMNS
    assert labels == ["a_class", "b_class"]
    by_path = manifest.set_index("path")
    assert set(by_path.index) == {
        "b_class/one.png",
        "b_class/two.png",
        "a_class/sub/three.png",
        "a_class/notes.png",
        "a_class/.DS_Store",
    }
    assert by_path.loc["a_class/.DS_Store", "status"] == "rejected"
    assert "hidden" in by_path.loc["a_class/.DS_Store", "reason"]
    assert (
        by_path.loc["a_class/sub/three.png", "label"] == "a_class"
    )  # nested folder keeps its class
    assert by_path.loc["a_class/notes.png", "status"] == "rejected"
    assert "identify" in by_path.loc["a_class/notes.png", "reason"]
    assert by_path.loc["b_class/two.png", "mode"] == "RGBA"
    assert by_path.loc["b_class/one.png", ["width", "height"]].tolist() == [8, 8]
    assert len(by_path.loc["b_class/one.png", "sha256"]) == 64


def test_duplicates_within_and_across_classes(tmp_path):
    root = tmp_path / "data"
    _image(root / "x" / "a.png", 50)
    _image(root / "x" / "a_copy.png", 50)  # same pixels, same class: keep the first
    _image(root / "x" / "b.png", 60)
    _image(root / "y" / "c.png", 60)  # same pixels as x/b.png in another class: ambiguous
    _image(root / "y" / "d.png", 70)
    manifest, _ = ingest(root, IngestOptions())
    status = manifest.set_index("path").status
    assert status["x/a.png"] == "ok" and status["x/a_copy.png"] == "rejected"
    assert status["x/b.png"] == "rejected" and status["y/c.png"] == "rejected"
    reasons = manifest.set_index("path").reason
    assert "different classes" in reasons["y/c.png"] and "x/b.png" in reasons["y/c.png"]
    assert "duplicate of x/a.png" in reasons["x/a_copy.png"]


def test_group_ids_from_pattern_and_csv(tmp_path):
    root = tmp_path / "data"
    for i, label in enumerate(["p", "q"]):
        _image(root / label / f"patient{i}_slice1.png", 10 + i)
        _image(root / label / f"patient{i}_slice2.png", 100 + i)
    manifest, _ = ingest(root, IngestOptions(group_pattern=r"(patient\d+)_"))
    assert manifest.group.tolist() == ["patient0", "patient0", "patient1", "patient1"]
    table = pd.DataFrame({"file": manifest.path, "pid": ["A", "B", "C", "D"]})
    table.to_csv(tmp_path / "groups.csv", index=False)
    options = IngestOptions(
        group_csv=str(tmp_path / "groups.csv"),
        group_csv_path_column="file",
        group_csv_group_column="pid",
    )
    assert ingest(root, options)[0].group.tolist() == ["A", "B", "C", "D"]
    with pytest.raises(IngestError, match="no column 'patient'"):
        ingest(
            root,
            IngestOptions(
                group_csv=str(tmp_path / "groups.csv"),
                group_csv_path_column="file",
                group_csv_group_column="patient",
            ),
        )


def test_whole_dataset_problems_raise_clear_errors(tmp_path):
    with pytest.raises(IngestError, match="does not exist"):
        ingest(tmp_path / "missing", IngestOptions())
    _image(tmp_path / "only" / "one" / "a.png", 1)
    with pytest.raises(IngestError, match="at least two"):
        ingest(tmp_path / "only", IngestOptions())
    _image(tmp_path / "only" / "two" / "b.png", 2)
    (tmp_path / "only" / "empty").mkdir()
    with pytest.raises(IngestError, match="empty"):
        ingest(tmp_path / "only", IngestOptions())
