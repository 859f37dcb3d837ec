"""What the sensor and the camera stream do to a rendered frame: noise, the NV21 (YUV420)
round trip, JPEG compression. Used by :func:`mobileclf.mobile.camera.camera_frame`; each
step is per pixel or per block, so it runs on a window of the frame as on the whole.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """The standard normal's quantiles at (i + 0.5) / 2^16, float32 (|z| <= 4.3)."""
    from statistics import NormalDist

    quantile = NormalDist().inv_cdf
    return np.array([quantile((i + 0.5) / (1 << 16)) for i in range(1 << 16)], np.float32)


def sensor_noise(rng: np.random.Generator, sigma: float, shape: tuple, index=...) -> np.ndarray:
    """Gaussian noise of standard deviation ``sigma``, drawn for the whole ``shape`` (one
    draw per pixel, so a window's noise is the whole frame's there) and returned at
    ``index``, float32. Uniform uint16 draws index a table of normal quantiles: the same
    distribution to 1/65536 at a fifth of the cost of ``rng.normal`` over a 640×480 frame
    (2 ms instead of 10; the noise was the largest single cost of a camera view)."""
    draws = rng.integers(0, 1 << 16, shape, dtype=np.uint16)[index]
    noise = np.take(_normal_quantiles(), draws)
    noise *= np.float32(sigma)
    return noise


def rgb_to_nv21_to_rgb(rgb: np.ndarray) -> np.ndarray:
    """Round trip through the camera stream's YUV420 (NV21): BT.601 video range, chroma
    averaged over 2×2 blocks, back to RGB with the template's integer formula
    (``ImageUtils.convertYUV420ToARGB8888``, chroma repeated per 2×2 block)."""
    h, w = rgb.shape[:2]
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = np.clip(np.rint(16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256), 0, 255)
    u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
    v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
    ph, pw = h + h % 2, w + w % 2  # odd sides: the last row/column shares its block

    def subsample(channel: np.ndarray) -> np.ndarray:
        if (ph, pw) != (h, w):
            channel = np.pad(channel, ((0, ph - h), (0, pw - w)), mode="edge")
        blocks = channel.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3))
        return np.clip(np.rint(blocks), 0, 255)[:, None, :, None] - 128  # one value per block

    u, v = subsample(u), subsample(v)
    y = np.maximum(y - 16, 0) * 1192
    if (ph, pw) != (h, w):
        y = np.pad(y, ((0, ph - h), (0, pw - w)), mode="edge")
    y = y.reshape(ph // 2, 2, pw // 2, 2)
    out = np.empty((ph // 2, 2, pw // 2, 2, 3), dtype=np.uint8)
    for channel, chroma in enumerate((1634 * v, -833 * v - 400 * u, 2066 * u)):
        value = np.clip(y + chroma, 0, 262143).astype(np.int32) >> 10
        out[..., channel] = value
    return out.reshape(ph, pw, 3)[:h, :w]


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """JPEG at ``quality`` without chroma subsampling (4:4:4: every 8×8 block on its own),
    decoded back to uint8 RGB."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality, subsampling=0)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), dtype=np.uint8)
