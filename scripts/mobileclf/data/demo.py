"""Deterministic CT-like demo dataset, generated without any download.

Two classes of axial "slices": ``normal`` (body ellipse, two dark lung fields, noise)
and ``lesion`` (the same plus bright ground-glass patches inside the lungs). Files come
in several sizes and in the image modes users' exports have (L, RGB, RGBA, 16-bit
grey, palette), so the demo run also exercises the ingest conversion rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("lesion", "normal")
MODES = ("L", "RGB", "RGBA", "I;16", "P")


def _slice(rng: np.random.Generator, side: int, lesion: bool) -> np.ndarray:
    yy, xx = np.mgrid[0:side, 0:side] / side
    body = ((xx - 0.5) / 0.42) ** 2 + ((yy - 0.5) / 0.34) ** 2 < 1
    image = np.where(body, 0.55, 0.02) + rng.normal(0, 0.04, (side, side))
    lungs = []
    for centre_x in (0.33, 0.67):
        cx = centre_x + rng.uniform(-0.02, 0.02)
        cy = 0.5 + rng.uniform(-0.03, 0.03)
        lung = ((xx - cx) / 0.13) ** 2 + ((yy - cy) / 0.22) ** 2 < 1
        image[lung] = 0.12 + rng.normal(0, 0.03, lung.sum())
        lungs.append((cx, cy))
    if lesion:
        for _ in range(rng.integers(1, 4)):
            cx, cy = lungs[rng.integers(0, 2)]
            px, py = cx + rng.uniform(-0.06, 0.06), cy + rng.uniform(-0.12, 0.12)
            radius = rng.uniform(0.035, 0.07)
            patch = np.exp(-(((xx - px) ** 2 + (yy - py) ** 2) / (2 * radius**2)))
            image += 0.5 * patch * (patch > 0.2)
    return np.clip(image, 0, 1)


def _save(grey: np.ndarray, mode: str, path: Path) -> Path:
    if mode == "I;16":
        Image.fromarray((grey * 4095).astype(np.uint16)).save(path.with_suffix(".png"))
        return path.with_suffix(".png")
    pixels = (grey * 255).astype(np.uint8)
    if mode == "L":
        image = Image.fromarray(pixels, "L")
    elif mode == "RGB":
        image = Image.fromarray(np.stack([pixels] * 3, axis=-1), "RGB")
    elif mode == "RGBA":
        alpha = np.full_like(pixels, 255)
        image = Image.fromarray(np.stack([pixels] * 3 + [alpha], axis=-1), "RGBA")
    else:  # palette
        image = Image.fromarray(pixels, "L").convert("P")
    suffix = ".jpg" if mode == "RGB" else ".png"
    image.save(path.with_suffix(suffix), quality=95) if suffix == ".jpg" else image.save(
        path.with_suffix(suffix)
    )
    return path.with_suffix(suffix)


def make_demo(root: str | Path, per_class: int = 40, seed: int = 7) -> list[Path]:
    """Write ``per_class`` images per class under ``root/<class>/``; return the paths."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    written = []
    for index in range(per_class):
        for label in CLASSES:
            side = int(rng.choice([64, 96, 128, 160]))
            grey = _slice(rng, side, lesion=label == "lesion")
            folder = root / label
            folder.mkdir(parents=True, exist_ok=True)
            mode = MODES[index % len(MODES)]
            written.append(_save(grey, mode, folder / f"{label}_{index:03d}"))
    return written
