"""LAB + K-means segmentation (Ghaderzadeh et al. (n.d.)): the
mask isolates an object, large images are
segmented at work size, the mobile paths segment like the app (the stage in the workflow:
tests/workflow/test_segmentation_run.py)."""

import numpy as np
import pytest
from PIL import Image

from mobileclf.data.images import load_rgb
from mobileclf.data.segment import (
    SegmentationSettings,
    rgb_to_lab,
    segment_rgb,
    segmentation_stages,
)


def _object_on_background(seed: int = 0, hole: bool = False):
    """A magenta ellipse (with a small same-colour-as-background hole) on noisy green."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:150, :200]
    inside = ((yy - 70) / 45) ** 2 + ((xx - 110) / 60) ** 2 < 1
    image = np.empty((150, 200, 3))
    image[...] = (50, 150, 70)
    image[inside] = (190, 50, 150)
    if hole:
        image[(yy - 70) ** 2 + (xx - 110) ** 2 < 5**2] = (50, 150, 70)
    image += rng.normal(0, 14, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), inside


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_lab_conversion_reference_values():
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]], np.uint8))
    assert lab[0] == pytest.approx([100, 0, 0], abs=1e-3)
    assert lab[1] == pytest.approx([0, 0, 0], abs=1e-6)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.01)  # sRGB red, D65
    assert lab[3] == pytest.approx([32.30, 79.19, -107.86], abs=0.01)


@pytest.mark.parametrize("foreground", ["not_border", "most_chromatic"])
def test_mask_isolates_a_synthetic_object(foreground):
    image, inside = _object_on_background(hole=True)
    settings = SegmentationSettings(clusters=2, foreground=foreground, close_radius=1)
    masked, status = segment_rgb(image, settings)
    assert status == "ok" and masked.shape == image.shape
    kept = masked.any(axis=-1)
    assert _iou(kept, inside) > 0.97
    # background is black, the object keeps its original pixels
    assert (masked[~kept] == 0).all()
    assert (masked[kept & inside] == image[kept & inside]).all()


def test_cleaning_removes_specks_and_fills_holes():
    image, inside = _object_on_background(seed=1, hole=True)
    image[5:7, 5:7] = (190, 50, 150)  # a 2x2 speck of object colour in the background
    stages = segmentation_stages(image, SegmentationSettings(clusters=2, close_radius=1))
    raw, cleaned = stages["mask"], stages["cleaned"]
    assert raw[5:7, 5:7].all() and not cleaned[5:7, 5:7].any()  # opening removed the speck
    assert not raw[70, 110] and cleaned[70, 110]  # the hole inside the object is filled
    assert _iou(cleaned, inside) > _iou(raw, inside)
    assert set(stages) >= {"rgb", "lab", "clusters", "mask", "cleaned", "masked"}


def test_empty_mask_keeps_the_image_and_says_so():
    flat = np.full((40, 40, 3), 90, dtype=np.uint8)
    masked, status = segment_rgb(flat, SegmentationSettings(clusters=2))
    assert status == "empty_mask"
    assert (masked == flat).all()


def test_large_images_are_segmented_at_work_size_and_masked_at_full_size():
    small, inside = _object_on_background(seed=2)
    big = np.asarray(Image.fromarray(small).resize((800, 600), Image.Resampling.NEAREST))
    big_inside = np.asarray(Image.fromarray(inside).resize((800, 600), Image.Resampling.NEAREST))
    stages = segmentation_stages(big, SegmentationSettings(clusters=2, work_size=200))
    assert stages["cleaned"].shape == (150, 200)
    assert stages["masked"].shape == big.shape
    assert _iou(stages["masked"].any(-1), big_inside) > 0.95


def test_mobile_paths_segment_like_the_app_before_resizing(tmp_path):
    """With segmentation on, the computer, gallery and camera inputs of the phone tests are
    the segmented image resized (the app-side step), not the raw photo."""
    import json
    from argparse import Namespace

    from mobileclf.data.resize import to_square
    from mobileclf.mobile.camera import CameraConditions, camera_input, gallery_input, image_seed
    from mobileclf.mobile.inputs import mobile_camera_inputs, mobile_reference_inputs

    root = tmp_path / "data"
    rows = []
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for k in range(2):
            image, _ = _object_on_background(seed=10 * k + len(rows))
            Image.fromarray(image).save(root / label / f"{k}.png")
            rows.append(f"{label}/{k}.png,{label},,holdout")
    (tmp_path / "splits.csv").write_text("path,label,group,set\n" + "\n".join(rows) + "\n")
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "spec.json").write_text(json.dumps({"size": 32}))
    section = {"enabled": True, "clusters": 2}
    options = dict(mode="stretch", resample="bilinear", max_pixels=10**8, oversize="reject",
                   phone_test_per_class=1, seed=3, segmentation=section)  # fmt: skip
    out = {name: str(tmp_path / f"{name}.npy") for name in ("computer", "gallery")}
    mobile_reference_inputs(
        Namespace(splits=str(tmp_path / "splits.csv"), labels=str(tmp_path / "labels.txt"),
                  spec=str(tmp_path / "spec.json"), root=str(root),
                  holdout=str(tmp_path / "holdout.csv"), options=options, **out)
    )  # fmt: skip
    camera_options = dict(conditions={}, sensor_orientation=90, max_pixels=10**8,
                          oversize="reject", seed=3, segmentation=section)  # fmt: skip
    mobile_camera_inputs(
        Namespace(holdout=str(tmp_path / "holdout.csv"), spec=str(tmp_path / "spec.json"),
                  root=str(root), inputs=str(tmp_path / "camera.npy"),
                  examples=str(tmp_path / "examples.npz"), severity=0, options=camera_options)
    )  # fmt: skip
    computer, gallery = np.load(out["computer"]), np.load(out["gallery"])
    camera = np.load(tmp_path / "camera.npy")
    settings = SegmentationSettings(clusters=2)
    for i, row in enumerate(rows):
        rgb = load_rgb(root / row.split(",")[0]).rgb
        masked, status = segment_rgb(rgb, settings)
        assert status == "ok"
        assert (computer[i] == to_square(masked, 32)).all()
        assert (gallery[i] == gallery_input(masked, 32)).all()
        raw = to_square(rgb, 32)
        assert not (computer[i] == raw).all()
        # the masked background is black in every path's input (corners lie outside the object)
        for batch in (computer, gallery, camera):
            assert batch[i, 0, 0].max() == 0 and batch[i, -1, -1].max() == 0
        rng = np.random.default_rng(image_seed(3, 0, row.split(",")[0]))
        unsegmented = camera_input(rgb, 32, CameraConditions.from_config({}), rng)
        assert unsegmented[0, 0].max() > 0  # without the app step the corner is green
