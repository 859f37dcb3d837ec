"""The one decoding rule: every mode to RGB, EXIF orientation, clear rejects."""

import numpy as np
import pytest
from PIL import Image

from mobileclf.data.images import ImageRejected, load_rgb


def test_rgba_is_composited_on_black(tmp_path):
    pixels = np.zeros((4, 4, 4), dtype=np.uint8)
    pixels[..., 0] = 200
    pixels[:2, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(pixels, "RGBA").save(tmp_path / "a.png")
    rgb = load_rgb(tmp_path / "a.png").rgb
    assert rgb.shape == (4, 4, 3)
    assert rgb[0, 0].tolist() == [200, 0, 0]
    assert rgb[3, 3].tolist() == [0, 0, 0]


def test_16bit_grey_is_stretched_to_full_range(tmp_path):
    values = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")
    decoded = load_rgb(tmp_path / "g16.png")
    assert decoded.mode.startswith("I")
    grey = decoded.rgb[..., 0]
    assert grey.min() == 0 and grey.max() == 255
    assert grey[0, 1] == round((2000 - 1000) / 4000 * 255)
    assert (decoded.rgb[..., 0] == decoded.rgb[..., 2]).all()


def test_palette_with_transparency_and_la(tmp_path):
    palette = Image.new("P", (3, 3), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.info["transparency"] = 0
    palette.putpixel((0, 0), 0)
    palette.save(tmp_path / "p.png", transparency=0)
    rgb = load_rgb(tmp_path / "p.png").rgb
    assert rgb[1, 1].tolist() == [10, 200, 30]
    assert rgb[0, 0].tolist() == [0, 0, 0]
    la = Image.fromarray(
        np.stack([np.full((2, 2), 90, np.uint8), np.full((2, 2), 255, np.uint8)], -1), "LA"
    )
    la.save(tmp_path / "la.png")
    assert load_rgb(tmp_path / "la.png").rgb[0, 0].tolist() == [90, 90, 90]


def test_cmyk_jpeg_and_exif_rotation(tmp_path):
    Image.new("CMYK", (8, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    cmyk = load_rgb(tmp_path / "c.jpg").rgb
    assert cmyk.shape == (4, 8, 3)
    assert cmyk[..., 0].mean() > 200 and cmyk[..., 1].mean() < 60  # red
    wide = Image.new("RGB", (8, 4), (0, 0, 255))
    exif = wide.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    wide.save(tmp_path / "r.jpg", exif=exif)
    assert load_rgb(tmp_path / "r.jpg").rgb.shape == (8, 4, 3)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"hello, I am text", "identify")],
)
def test_non_images_are_rejected_with_reason(tmp_path, content, reason):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ImageRejected, match=reason):
        load_rgb(path)


def test_truncated_png_is_rejected(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
        tmp_path / "t.png"
    )
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageRejected, match=r"decode|truncated"):
        load_rgb(tmp_path / "t.png")


def test_pixel_limit_guards_against_bombs(tmp_path):
    Image.new("RGB", (300, 300)).save(tmp_path / "big.png")
    with pytest.raises(ImageRejected, match="max_pixels"):
        load_rgb(tmp_path / "big.png", max_pixels=10_000)
