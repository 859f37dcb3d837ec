"""Decode any image file into an RGB uint8 array by one documented rule.

Every stage that reads pixels (ingest, resize, mobile emulation) goes through
:func:`load_rgb`, so training and deployment see identical pixels.

The rule, applied in this order:

1. EXIF orientation is applied (phone photos are stored sideways).
2. Animated files (GIF, APNG, TIFF pages): the first frame is used and a note says so.
3. 16/32-bit integer and float modes (``I;16``, ``I``, ``F``; DICOM/PACS exports) are
   stretched linearly from the image's own min..max to 0..255: their absolute range is
   scanner-specific, so a fixed divisor would turn most of them black.
4. Palette (``P``) images are expanded through their palette (with its transparency).
5. Transparency (``RGBA``, ``LA``, ``PA``, palette transparency) is composited onto
   black, the background of CT/X-ray exports.
6. Grey modes (``1``, ``L``) are replicated to three channels; ``CMYK``/``YCbCr``/``LAB``
   are converted by Pillow's own conversion to ``RGB``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mobileclf.errors import UserError

# We enforce our own pixel limit (see ImageTooLarge) before decoding anything.
Image.MAX_IMAGE_PIXELS = None


class ImageRejected(UserError):
    """The file cannot be used as an image; the message says why, for the rejects table."""


@dataclass(frozen=True)
class DecodedImage:
    """Pixels plus what the manifest records about the original file."""

    rgb: np.ndarray  # (H, W, 3) uint8
    width: int
    height: int
    mode: str
    note: str  # non-fatal remarks (first frame of an animation, downscaled, ...)


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        grey = np.clip((values - low) * scale, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        mode = image.mode
    if mode == "PA":
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_rgb(
    path: str | Path, max_pixels: int = 100_000_000, oversize: str = "reject"
) -> DecodedImage:
    """Decode ``path`` by the module's rule; raise :class:`ImageRejected` with a reason.

    ``max_pixels`` guards against decompression bombs: no more than ``max_pixels`` pixels
    are ever decoded. Larger images are rejected, or with ``oversize="downscale"`` decoded
    at reduced resolution where the format allows it without holding the full bitmap
    (JPEG draft mode: 1/2..1/8 scale); other formats cannot be decoded partially and are
    rejected with a message saying how to convert them.
    """
    path = Path(path)
    notes: list[str] = []
    target = None
    width = height = 0
    try:
        if path.stat().st_size == 0:
            raise ImageRejected("empty file (0 bytes): an interrupted copy or export; copy again")
        with Image.open(path) as image:
            width, height = image.size
            mode = image.mode
            if width * height > max_pixels:
                if oversize != "downscale":
                    raise ImageRejected(
                        f"{width}x{height} pixels exceeds ingest.max_pixels={max_pixels} "
                        "(decompression-bomb guard); raise the limit or set "
                        "ingest.oversize: downscale"
                    )
                factor = (width * height / max_pixels) ** 0.5
                target = (max(1, int(width / factor)), max(1, int(height / factor)))
                # draft picks the strongest JPEG reduction whose result is still >= the
                # requested size; asking for half the target keeps the result <= max_pixels
                image.draft("RGB", (max(1, target[0] // 2), max(1, target[1] // 2)))
                if image.size[0] * image.size[1] > max_pixels:
                    raise ImageRejected(
                        f"{width}x{height} pixels exceeds ingest.max_pixels={max_pixels} and "
                        f"{image.format} cannot be decoded at reduced scale (only JPEG can, "
                        "by 1/2..1/8); shrink or convert the file, or raise ingest.max_pixels"
                    )
                notes.append(f"downscaled from {width}x{height} (ingest.oversize)")
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                image.seek(0)
                notes.append(f"animated ({frames} frames): first frame used")
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
            if target is not None:
                rgb.thumbnail(target, Image.Resampling.LANCZOS)
            array = np.asarray(rgb, dtype=np.uint8)
    except ImageRejected:
        raise
    except FileNotFoundError as error:
        raise ImageRejected(f"file not found (broken link or moved): {error}") from error
    except Image.UnidentifiedImageError:
        hint = " (DICOM: export the slices to PNG first)" if path.suffix.lower() == ".dcm" else ""
        raise ImageRejected(
            f"not an image Pillow can identify (wrong extension or corrupt header){hint}"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(f"cannot decode: {error}; the file is damaged, export again") from error
    except MemoryError as error:
        raise ImageRejected(
            f"out of memory decoding {width}x{height}; lower ingest.max_pixels"
        ) from error
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise ImageRejected(f"decoded to unexpected shape {array.shape}")
    return DecodedImage(array, int(width), int(height), mode, "; ".join(notes))
