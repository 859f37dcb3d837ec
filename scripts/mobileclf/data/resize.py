"""Resize every accepted image to S×S into one uint8 array (N, S, S, 3).

Row i of the array is row i of the accepted manifest (and of ``splits.csv``), so training
jobs index it directly from a memory map instead of decoding files again.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image

from mobileclf.data.images import load_rgb

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "area": Image.Resampling.BOX,
}
log = logging.getLogger(__name__)


def to_square(
    rgb: np.ndarray, size: int, mode: str = "stretch", resample: str = "bilinear"
) -> np.ndarray:
    """Bring one RGB image to ``size``×``size``.

    ``stretch`` ignores the aspect ratio (the paper's rule), ``pad`` keeps it and fills the
    short side with black, ``crop`` keeps it and cuts the long side at the centre.
    """
    image = Image.fromarray(rgb)
    width, height = image.size
    if mode == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    elif mode == "pad":
        side = max(width, height)
        canvas = Image.new("RGB", (side, side))
        canvas.paste(image, ((side - width) // 2, (side - height) // 2))
        image = canvas
    elif mode != "stretch":
        raise ValueError(f"resize.mode must be stretch, pad or crop, not {mode!r}")
    return np.asarray(image.resize((size, size), FILTERS[resample]), dtype=np.uint8)


def resize_all(
    paths: list[Path], size: int, mode: str, resample: str, max_pixels: int, oversize: str
) -> np.ndarray:
    """Decode and resize ``paths`` in order; warn (once per file) when upscaling a tiny image."""
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        rgb = load_rgb(path, max_pixels, oversize).rgb
        if min(rgb.shape[:2]) < size:
            log.warning("%s is %dx%d, upscaled to %d", path, rgb.shape[1], rgb.shape[0], size)
        out[i] = to_square(rgb, size, mode, resample)
    return out
