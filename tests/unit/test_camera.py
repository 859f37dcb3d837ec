"""The phone's input paths, emulated (mobileclf.mobile.camera): the template's crop and
nearest resize, the live-camera scene and its window rendering, NV21, the gallery resize."""

from __future__ import annotations

import numpy as np
from PIL import Image

from mobileclf.mobile.camera import (
    CameraConditions,
    camera_input,
    camera_view,
    crop_or_pad_center,
    gallery_input,
    image_seed,
    resize_nearest,
    rgb_to_nv21_to_rgb,
    template_preprocess,
    to_sensor,
)

HARSH = CameraConditions(
    fill=0.65,
    offset=0.08,
    rotation=10,
    light=0.35,
    contrast=0.2,
    blur=2.5,
    noise=10,
    yuv=True,
    jpeg_quality=60,
)


def coordinate_frame(height: int = 640, width: int = 480) -> np.ndarray:
    """Each pixel encodes its position: R = row % 256, G = col % 256,
    B = 16 * (row // 256) + col // 256."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([rows % 256, cols % 256, 16 * (rows // 256) + cols // 256], -1).astype(np.uint8)


def decode(pixel: np.ndarray) -> tuple[int, int]:
    r, g, b = (int(v) for v in pixel)
    return r + 256 * (b // 16), g + 256 * (b % 16)


# --- the template's crop + nearest-neighbour resize -----------------------------------


def test_template_crop_and_nearest_resize_on_a_hand_made_image():
    # 6 wide × 8 high: ResizeWithCropOrPadOp(6, 6) drops row 0 and row 7 ((8 - 6) // 2 = 1);
    # ResizeOp(4, 4, NEAREST) reads source index floor((i + 0.5) * 6 / 4) = 0, 2, 3, 5.
    frame = np.arange(8 * 6, dtype=np.uint8).reshape(8, 6, 1).repeat(3, axis=2)
    out = template_preprocess(frame, 4, sensor_orientation=0)
    expected = np.array([[6, 8, 9, 11], [18, 20, 21, 23], [24, 26, 27, 29], [36, 38, 39, 41]])
    assert out.shape == (4, 4, 3)
    assert (out[..., 0] == expected).all() and (out[..., 2] == expected).all()


def test_template_on_the_480x640_portrait_frame_pixel_by_pixel():
    frame = coordinate_frame()
    out = template_preprocess(frame, 48, sensor_orientation=0)
    for i in range(48):
        for j in range(48):
            # crop offset (640 - 480) // 2 = 80 rows; scale 480/48 = 10: centre sample 10*i + 5
            assert decode(out[i, j]) == (80 + 10 * i + 5, 10 * j + 5)


def test_sensor_orientation_is_undone_by_rot90op():
    frame = coordinate_frame()
    sensor = to_sensor(frame, 90)
    assert sensor.shape == (480, 640, 3)  # the sensor delivers landscape
    out = template_preprocess(sensor, 48, sensor_orientation=90)
    # upright again: rows grow downwards, columns to the right, inside the central square
    assert (
        decode(out[0, 0])[0] < decode(out[47, 0])[0]
        and decode(out[0, 0])[1] < decode(out[0, 47])[1]
    )
    # in sensor orientation the nearest sample of a 10-px block is its 6th pixel counted from
    # the sensor's edge: mirrored against the upright crop, it lands one row higher
    assert decode(out[0, 0]) == (80 + 4, 5)
    assert decode(out[47, 47]) == (80 + 474, 475)


def test_crop_or_pad_pads_small_images_centred():
    small = np.full((2, 4, 3), 9, np.uint8)
    out = crop_or_pad_center(small, 4, 4)
    assert out[:, :, 0].tolist() == [[0, 0, 0, 0], [9, 9, 9, 9], [9, 9, 9, 9], [0, 0, 0, 0]]


def test_severity_zero_on_a_frame_size_image_is_the_plain_crop_and_resize():
    image = np.random.default_rng(1).integers(0, 256, (640, 480, 3), dtype=np.uint8)
    for orientation in (0, 90):
        for size in (30, 48, 100):
            rng = np.random.default_rng(image_seed(5, 0, "a.png"))
            model_input, frame = camera_view(image, size, CameraConditions(), rng, orientation)
            assert (frame == image).all()
            plain = template_preprocess(to_sensor(image, orientation), size, orientation)
            assert (model_input == plain).all()
    model_input = camera_input(image, 48, CameraConditions(), np.random.default_rng(0), 0)
    assert (model_input == resize_nearest(image[80:560], 48, 48)).all()


def test_camera_input_renders_a_window_with_the_whole_frames_pixels():
    """camera_input renders only what the template reads (plus blur reach and block
    alignment): it must equal the input cut from the whole frame, for every condition that
    mixes neighbouring pixels or not, at small and large sizes, each sensor orientation,
    with the app's segmentation, a picture wider than the frame and a very wide blur."""
    from mobileclf.data.segment import app_step
    from mobileclf.mobile.camera import frame_input, render_window, template_reads

    rng = np.random.default_rng(4)
    ct_like = rng.integers(0, 256, (316, 322, 3), dtype=np.uint8)
    ct_like[100:200, 120:220] = 240  # a bright object for the segmentation to find
    wide = rng.integers(0, 256, (90, 700, 3), dtype=np.uint8)
    cases = [
        (CameraConditions(), 50, 90, None),
        (CameraConditions(light=0.3, contrast=0.1, noise=8, rotation=5, offset=0.05), 12, 0, None),
        (HARSH, 50, 90, None),
        (HARSH, 100, 270, None),
        (HARSH, 224, 180, None),
        (CameraConditions(blur=9.0, yuv=True), 32, 90, None),
        (CameraConditions(jpeg_quality=50, fill=1.4), 48, 90, None),
        (CameraConditions(yuv=True, offset=0.1), 600, 0, None),
        (HARSH, 32, 90, app_step({"enabled": True, "clusters": 2})),
    ]
    for conditions, size, orientation, segment in cases:
        for picture in (ct_like, wide):
            seed = image_seed(1, size, f"{conditions}{orientation}")
            fast = camera_input(
                picture, size, conditions, np.random.default_rng(seed), orientation, segment
            )
            whole, frame = camera_view(
                picture, size, conditions, np.random.default_rng(seed), orientation, segment
            )
            assert (fast == whole).all(), (conditions, size, orientation)
            assert (frame_input(frame, size, orientation, segment) == whole).all()
    # the window is what makes it fast: a fraction of the frame, exact-pixel when no
    # condition mixes neighbours
    rows, cols = template_reads(50, 90)
    assert len(rows) == len(cols) == 50 and rows.min() >= 80 and rows.max() < 560
    picked = render_window(CameraConditions(light=0.3), rows, cols)
    assert picked[0] is rows and picked[1] is cols
    band = render_window(HARSH, rows, cols)[0]
    assert band.start % 8 == 0 and band.stop % 8 == 0 and band.stop - band.start < 560


def test_seeded_runs_are_identical_and_seeds_differ():
    image = np.random.default_rng(2).integers(0, 256, (300, 260, 3), dtype=np.uint8)

    def run(seed: int, key: str = "covid/1.png") -> tuple[np.ndarray, np.ndarray]:
        return camera_view(image, 32, HARSH, np.random.default_rng(image_seed(seed, 3, key)))

    first, again = run(7), run(7)
    assert (first[0] == again[0]).all() and (first[1] == again[1]).all()
    assert (first[1] != run(8)[1]).mean() > 0.5
    assert (first[1] != run(7, "covid/2.png")[1]).mean() > 0.5


def test_harsh_conditions_change_the_input_and_shrink_the_picture():
    image = np.full((400, 400, 3), 255, np.uint8)  # a white picture on a darker background
    _, frame = camera_view(image, 32, HARSH, np.random.default_rng(0))
    assert frame.shape == (640, 480, 3)
    centre, corner = frame[300:340, 220:260].mean(), frame[:40, :40].mean()
    assert centre > corner + 30  # the picture fills only part of the frame


def test_nv21_round_trip_keeps_grey_and_shares_chroma_per_2x2_block():
    grey = np.full((4, 4, 3), 128, np.uint8)
    assert np.abs(rgb_to_nv21_to_rgb(grey).astype(int) - 128).max() <= 1
    stripes = np.zeros((2, 2, 3), np.uint8)
    stripes[:, 0] = (255, 0, 0)
    stripes[:, 1] = (0, 0, 255)
    out = rgb_to_nv21_to_rgb(stripes).astype(int)
    # luma is kept per pixel, chroma is the block average: red and blue become alike
    assert (
        np.abs(out[0, 0] - out[0, 1]).sum()
        < np.abs(stripes[0, 0].astype(int) - stripes[0, 1]).sum() / 2
    )


def test_gallery_is_android_bilinear_without_antialiasing():
    # 4 → 2: output pixel i samples position (i + 0.5) * 2 - 0.5 = 0.5, 2.5: the mean of two
    row = np.array([0, 100, 200, 40], dtype=np.uint8)
    image = np.repeat(row[None, :, None], 4, axis=0).repeat(3, axis=2)
    out = gallery_input(image, 2)
    assert out[0, :, 0].tolist() == [50, 120]
    # a fine checkerboard: Pillow's antialiased bilinear averages it to grey, Android's
    # two-tap bilinear without antialiasing keeps sampling single pixels
    board = ((np.indices((400, 400)).sum(0) % 2) * 255).astype(np.uint8)[..., None].repeat(3, 2)
    pil = np.asarray(Image.fromarray(board).resize((32, 32), Image.Resampling.BILINEAR))
    android = gallery_input(board, 32)
    assert np.abs(pil.astype(int) - 127).max() < 10
    assert android.std() > pil.std() + 20
