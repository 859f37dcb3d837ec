"""What the model sees on a phone: the gallery path and the live-camera path, emulated.

Muneeb et al. (2022) (section 2.7) tested its models by hand on one phone, once loading pictures
from the gallery (Flutter ``tflite`` plugin) and once pointing the camera at them (the
TensorFlow Lite Android image-classification template). Accuracy collapsed on the phone.
This module reproduces both input paths deterministically, in NumPy/Pillow only (no
TensorFlow), so hundreds of holdout images can be pushed through them on the computer.

Gallery (Flutter ``runModelOnImage``): decode the stored file, scale it to the model
input with Android's ``Bitmap.createScaledBitmap(..., filter=true)`` (Skia bilinear:
two taps per axis, pixel centres at +0.5, edges clamped, *no* antialiasing, unlike
Pillow's BILINEAR used for training), then ``(pixel - mean) / std``.

Live camera (template, lib_support variant): the camera sees a 480-wide × 640-high
portrait scene (Muneeb et al. (2022), Fig. 5): the picture shown on a screen or paper, filling part
of the frame, on a background, under other light, slightly rotated, out of focus, with
sensor noise; the stream is YUV420 (NV21, chroma at half resolution) converted back to
RGB by the template's integer formula; optional JPEG compression stands in for a
compressed capture. The template then applies ``ResizeWithCropOrPadOp(min, min)``
(centre crop 480×480, offset ``(w - min) // 2``), ``ResizeOp(NEAREST_NEIGHBOR)``
(Skia nearest: source index ``floor((i + 0.5) * src / dst)``), ``Rot90Op(k)`` with
``k = sensorOrientation / 90`` (counter-clockwise) and ``NormalizeOp(mean, std)``.
The sensor buffer is the upright scene turned clockwise by ``sensorOrientation``, so
the template's rotation makes the model input upright again, but crop and resize run
in sensor orientation exactly as on the phone.

Normalisation is left to inference (:func:`normalize`): the arrays here are uint8 so
int8 models (uint8 input) and float models share them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

from mobileclf.mobile.sensor import jpeg_round_trip, rgb_to_nv21_to_rgb, sensor_noise

FRAME_WIDTH = 480  # portrait frame of the template (Muneeb et al. (2022), Fig. 5)
FRAME_HEIGHT = 640
FRAME_SHAPE = (FRAME_HEIGHT, FRAME_WIDTH)


@dataclass(frozen=True)
class CameraConditions:
    """One severity level of the live-camera emulation (``mobile.camera_levels`` in config).

    ``fill``: fraction of the frame width (or height, whichever binds) the picture covers;
    1.0 means the user moved the phone until the picture fills the frame.
    ``offset``: largest shift of the picture centre, as a fraction of the frame side.
    ``rotation``: largest tilt in degrees. ``light``: largest brightness change (gain
    1 ± light) and half of it as a colour cast. ``contrast``: black level of the screen or
    paper (0 = true black). ``blur``: defocus as a Gaussian sigma in frame pixels.
    ``noise``: sensor noise standard deviation in 0..255 units. ``yuv``: NV21 chroma
    subsampling round trip. ``jpeg_quality``: JPEG compression of the frame (None: off).
    """

    fill: float = 1.0
    offset: float = 0.0
    rotation: float = 0.0
    light: float = 0.0
    contrast: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    yuv: bool = False
    jpeg_quality: int | None = None

    @classmethod
    def from_config(cls, section: dict) -> CameraConditions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown camera condition(s) {unknown}; use {sorted(known)}")
        return cls(**section)


def image_seed(seed: int, severity: int, key: str) -> np.random.SeedSequence:
    """Per-image random stream: same image, seed and severity give the same draw, whatever
    other images are in the run (the key is the image's path, hashed stably)."""
    return np.random.SeedSequence([int(seed), int(severity), zlib.crc32(key.encode("utf-8"))])


# --- Android/Skia resampling ---------------------------------------------------------


def nearest_indices(source: int, target: int) -> np.ndarray:
    """Skia's nearest-neighbour sampling: destination pixel i reads floor((i+0.5)*src/dst)."""
    index = np.floor((np.arange(target) + 0.5) * source / target).astype(np.int64)
    return np.clip(index, 0, source - 1)


def resize_nearest(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``ResizeOp(h, w, NEAREST_NEIGHBOR)`` = ``createScaledBitmap(..., filter=false)``."""
    rows = nearest_indices(rgb.shape[0], height)
    cols = nearest_indices(rgb.shape[1], width)
    return rgb[rows][:, cols]


def _bilinear_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    position = (np.arange(target) + 0.5) * source / target - 0.5
    position = np.clip(position, 0, source - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, source - 1)
    return low, high, position - low


def resize_bilinear_android(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``createScaledBitmap(..., filter=true)``: Skia bilinear without antialiasing.

    Downscaling a 400 px slice to 32 px this way reads 4 source pixels per output pixel
    and skips the rest, so fine texture aliases: Pillow's BILINEAR (used to make the
    training arrays) averages over the whole footprint instead. The difference between
    the two is one of the things the gallery path measures.
    """
    top, bottom, wy = _bilinear_taps(rgb.shape[0], height)
    left, right, wx = _bilinear_taps(rgb.shape[1], width)
    image = rgb.astype(np.float64)
    wx = wx[None, :, None]
    upper = image[top][:, left] * (1 - wx) + image[top][:, right] * wx
    lower = image[bottom][:, left] * (1 - wx) + image[bottom][:, right] * wx
    wy = wy[:, None, None]
    return np.clip(np.rint(upper * (1 - wy) + lower * wy), 0, 255).astype(np.uint8)


def gallery_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """The gallery path for one decoded image (``mobileclf.data.images.load_rgb``):
    size×size uint8."""
    return resize_bilinear_android(rgb, size, size)


# --- the template's lib_support ImageProcessor ---------------------------------------


def crop_or_pad_center(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``ResizeWithCropOrPadOp(height, width)``: centre crop (or zero-pad), offset (w-t)//2."""
    h, w = rgb.shape[:2]
    out = np.zeros((height, width, 3), dtype=rgb.dtype)
    src_top, dst_top = ((h - height) // 2, 0) if h >= height else (0, (height - h) // 2)
    src_left, dst_left = ((w - width) // 2, 0) if w >= width else (0, (width - w) // 2)
    rows, cols = min(h, height), min(w, width)
    out[dst_top : dst_top + rows, dst_left : dst_left + cols] = rgb[
        src_top : src_top + rows, src_left : src_left + cols
    ]
    return out


def template_preprocess(
    sensor_frame: np.ndarray,
    size: int,
    sensor_orientation: int = 90,
    app_step: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The template's ``loadImage``: crop to min side, nearest resize, ``Rot90Op(k)``.

    ``app_step`` is an app-side step on the full-resolution crop before the resize
    (segmentation, which the TFLite model does not contain)."""
    side = min(sensor_frame.shape[:2])
    cropped = crop_or_pad_center(sensor_frame, side, side)
    if app_step is not None:
        cropped = app_step(cropped)
    resized = resize_nearest(cropped, size, size)
    return np.ascontiguousarray(np.rot90(resized, sensor_orientation // 90))


def to_sensor(frame: np.ndarray, sensor_orientation: int = 90) -> np.ndarray:
    """The upright portrait scene as the sensor delivers it (turned clockwise)."""
    return np.ascontiguousarray(np.rot90(frame, -(sensor_orientation // 90)))


# --- the scene in front of the camera ------------------------------------------------
# The template reads only the frame's centre square and, resized, only ``size`` of its
# rows and columns, so ``camera_input`` renders a *window*: those pixels when every
# condition is per pixel, else their band of rows plus the blur's reach, on the frame's
# 8-pixel grid (JPEG, NV21 blocks). Same arithmetic, same (whole-frame) random draws: the
# input equals the whole frame's (tests/unit/test_camera.py). Measured on CT slices:
# severity 0 24 -> 5 ms, severities 1-3 58 -> 41 ms. Then (EMULATION_VERSION 2) float32
# arithmetic and table-drawn noise: 60-66 -> 42-44 ms (bench_camera.py, one thread);
# Pillow's blur, resize and rotation are most of what remains.

Window = tuple[slice, slice] | tuple[np.ndarray, np.ndarray]  # see render_window
FULL: Window = (slice(0, FRAME_HEIGHT), slice(0, FRAME_WIDTH))


def _key(window: Window):
    """The index of ``window`` in a frame-sized array: a band is two slices (a view), picked
    rows x columns an open mesh (a copy)."""
    return window if isinstance(window[0], slice) else np.ix_(*window)


def _take(array: np.ndarray, window: Window) -> np.ndarray:
    return array[_key(window)]


def _indices(index: slice | np.ndarray, length: int) -> np.ndarray:
    return np.arange(length)[index] if isinstance(index, slice) else index


@lru_cache(maxsize=32)
def template_reads(size: int, sensor_orientation: int) -> tuple[np.ndarray, np.ndarray]:
    """The upright frame's rows and columns the template's crop + nearest resize read,
    found by running :func:`template_preprocess` on a frame of pixel coordinates."""
    coords = np.zeros((FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.int32)
    coords[..., 0] = np.arange(FRAME_HEIGHT)[:, None]
    coords[..., 1] = np.arange(FRAME_WIDTH)[None, :]
    read = template_preprocess(to_sensor(coords, sensor_orientation), size, sensor_orientation)
    return np.unique(read[..., 0]), np.unique(read[..., 1])


def blur_reach(sigma: float) -> int:
    """Rows a Pillow ``GaussianBlur(sigma)`` output pixel depends on, each side (three box
    passes of radius l + fraction, l = floor((sqrt(4 sigma^2 + 1) - 1) / 2)), with slack."""
    return 3 * (int(np.ceil(sigma)) + 2) if sigma else 0


def render_window(conditions: CameraConditions, rows: np.ndarray, cols: np.ndarray) -> Window:
    """The part of the frame to render so that ``rows`` x ``cols`` come out exact."""
    if not (conditions.blur or conditions.yuv or conditions.jpeg_quality is not None):
        return rows, cols  # every step is per pixel
    reach = blur_reach(conditions.blur)
    top = max(0, (int(rows.min()) - reach) // 8 * 8)  # JPEG's 8x8 and NV21's 2x2 blocks
    bottom = min(FRAME_HEIGHT, -(-(int(rows.max()) + 1 + reach) // 8) * 8)
    return slice(top, bottom), slice(0, FRAME_WIDTH)


def _background(rng: np.random.Generator, window: Window = FULL) -> np.ndarray:
    """A desk/wall behind the picture: a smooth tinted gradient with blotchy texture."""
    base = rng.uniform(60, 200, 3).astype(np.float32)
    tilt = rng.uniform(-40, 40, (2, 3)).astype(np.float32)
    yy = _indices(window[0], FRAME_HEIGHT).astype(np.float32)[:, None] / FRAME_HEIGHT - 0.5
    xx = _indices(window[1], FRAME_WIDTH).astype(np.float32)[None, :] / FRAME_WIDTH - 0.5
    coarse = rng.normal(0, 12, (FRAME_HEIGHT // 32 + 1, FRAME_WIDTH // 32 + 1, 3))
    texture = np.asarray(
        Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
            (FRAME_WIDTH, FRAME_HEIGHT), Image.Resampling.BICUBIC
        )
    )
    background = _take(texture, window).astype(np.float32)
    background += base - 128
    background += yy[..., None] * tilt[0]
    background += xx[..., None] * tilt[1]
    return background


def _place_picture(
    rgb: np.ndarray, conditions: CameraConditions, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The picture scaled, tilted and shifted into frame coordinates: uint8 (pixels,
    coverage 0..255)."""
    h, w = rgb.shape[:2]
    scale = min(FRAME_WIDTH / w, FRAME_HEIGHT / h) * conditions.fill
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    picture = Image.fromarray(rgb)
    if (new_w, new_h) != (w, h):
        picture = picture.resize((new_w, new_h), Image.Resampling.BILINEAR)
    angle = (
        float(rng.uniform(-conditions.rotation, conditions.rotation))
        if conditions.rotation
        else 0.0
    )
    if angle:  # RGBA: the coverage mask (alpha) turns with the picture in the same pass
        # (Pillow keeps RGB in 4 bytes a pixel anyway; channels resample independently)
        turned = picture.convert("RGBA").rotate(angle, Image.Resampling.BILINEAR, expand=True)
        picture, mask = turned.convert("RGB"), turned.getchannel("A")
    else:
        mask = Image.new("L", picture.size, 255)
    shift = (
        rng.uniform(-conditions.offset, conditions.offset, 2) if conditions.offset else np.zeros(2)
    )
    left = (FRAME_WIDTH - picture.size[0]) // 2 + round(shift[0] * FRAME_WIDTH)
    top = (FRAME_HEIGHT - picture.size[1]) // 2 + round(shift[1] * FRAME_HEIGHT)
    canvas = Image.new("RGB", (FRAME_WIDTH, FRAME_HEIGHT))
    coverage = Image.new("L", (FRAME_WIDTH, FRAME_HEIGHT), 0)
    canvas.paste(picture, (left, top))
    coverage.paste(mask, (left, top))
    return np.asarray(canvas), np.asarray(coverage)


def camera_frame(
    rgb: np.ndarray,
    conditions: CameraConditions,
    rng: np.random.Generator,
    window: Window = FULL,
) -> np.ndarray:
    """The upright 640×480 portrait frame the camera delivers when pointed at ``rgb``, or
    only its ``window`` (:func:`render_window`; same draws, same pixels there)."""
    canvas, coverage_u8 = _place_picture(rgb, conditions, rng)
    # in place, float32 (a 0..255 value rounds to ~1e-5, far below a level): frame =
    # cover * (c * 255 + (1 - c) * picture - background) + background; frame * gain * cast
    frame = _take(canvas, window).astype(np.float32)
    if conditions.contrast:  # a screen or paper never shows true black
        frame *= np.float32(1 - conditions.contrast)
        frame += np.float32(conditions.contrast * 255)
    if coverage_u8.min() < 255:
        background = _background(rng, window)
        coverage = _take(coverage_u8, window)[..., None] * np.float32(1 / 255)
        frame -= background  # cover * picture + (1 - cover) * background
        frame *= coverage
        frame += background
    # else the picture fills the frame: nothing else is visible
    if conditions.light:
        gain = 1 + rng.uniform(-conditions.light, conditions.light)
        cast = 1 + rng.uniform(-conditions.light / 2, conditions.light / 2, 3)
        frame *= (gain * cast).astype(np.float32)
    np.clip(frame, 0, 255, out=frame)
    if conditions.blur:
        blurred = Image.fromarray(np.rint(frame).astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(conditions.blur)
        )
        frame = np.asarray(blurred, dtype=np.float32)
    if conditions.noise:  # drawn for the whole frame: the window's share of the same draw
        frame += sensor_noise(rng, conditions.noise, (*FRAME_SHAPE, 3), _key(window))
    out = np.clip(np.rint(frame, out=frame), 0, 255, out=frame).astype(np.uint8)
    if conditions.yuv:
        out = rgb_to_nv21_to_rgb(out)
    if conditions.jpeg_quality is not None:
        out = jpeg_round_trip(out, int(conditions.jpeg_quality))
    return out


def frame_input(
    frame: np.ndarray,
    size: int,
    sensor_orientation: int = 90,
    app_step: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The model input the template makes from an upright frame."""
    return template_preprocess(
        to_sensor(frame, sensor_orientation), size, sensor_orientation, app_step
    )


def camera_input(
    rgb: np.ndarray,
    size: int,
    conditions: CameraConditions,
    rng: np.random.Generator,
    sensor_orientation: int = 90,
    app_step: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """The live-camera path for one image: the model input, size×size uint8.

    Renders only the window of the frame the template reads (the whole centre square when
    the app segments it first); :func:`camera_view` also returns the whole frame."""
    side = min(FRAME_WIDTH, FRAME_HEIGHT)
    rows, cols = template_reads(side if app_step is not None else size, sensor_orientation)
    window = render_window(conditions, rows, cols)
    frame = np.zeros((*FRAME_SHAPE, 3), dtype=np.uint8)
    frame[_key(window)] = camera_frame(rgb, conditions, rng, window)
    return frame_input(frame, size, sensor_orientation, app_step)


def camera_view(
    rgb: np.ndarray,
    size: int,
    conditions: CameraConditions,
    rng: np.random.Generator,
    sensor_orientation: int = 90,
    app_step: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(model input, whole upright frame): :func:`camera_input` plus the frame, for the
    contact sheet; same draws, same input."""
    frame = camera_frame(rgb, conditions, rng)
    return frame_input(frame, size, sensor_orientation, app_step), frame


def normalize(batch: np.ndarray, mean: list[float] | float, std: list[float] | float) -> np.ndarray:
    """``NormalizeOp(mean, std)``: ``(pixel - mean) / std`` per channel, float32."""
    mean_array = np.asarray(mean, dtype=np.float32)
    std_array = np.asarray(std, dtype=np.float32)
    return (batch.astype(np.float32) - mean_array) / std_array
