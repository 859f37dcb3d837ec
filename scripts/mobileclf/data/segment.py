"""LAB + K-means segmentation before resizing (companion Ghaderzadeh et al. (n.d.)).

Ghaderzadeh et al. (n.d.) removes "unnecessary clinical components" from blood-smear images before
classification: RGB -> CIE LAB, K-means clustering of the pixels, binary thresholding
(which clusters are the object), cleaning by morphology, and the mask applied to the RGB
image. :func:`segment_rgb` does exactly that for one image, with NumPy, scikit-learn's
KMeans and Pillow's min/max filters only (no SciPy/OpenCV), so the same function serves

* the workflow: the ``segment`` rule writes every accepted image, masked, once per
  dataset; ``resize`` then reads those instead of the originals;
* the phone: segmentation is **not** inside the TFLite model. An app using the model
  must run this same step on the full-resolution image before resizing it to the model's
  input; the mobile emulation calls :func:`segment_rgb` for that (app-side step).

The foreground rule is explicit (``foreground``): ``not_border`` (default) takes every
cluster except the one most frequent on the image border (the object lies inside the
frame, the background touches it), ``darkest``/``lightest`` the single cluster with the
lowest/highest L, ``most_chromatic`` the one with the largest LAB chroma (stained nuclei).
An image whose cleaned mask is empty is kept unmasked, logged and counted (status
``empty_mask``) instead of becoming a black image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger(__name__)

FOREGROUND_RULES = ("not_border", "darkest", "lightest", "most_chromatic")


@dataclass(frozen=True)
class SegmentationSettings:
    """``datasets.<name>.segmentation`` (see the config schema for the documentation)."""

    enabled: bool = False
    clusters: int = 3
    channels: str = "lab"  # "lab": L, a, b; "ab": colour only (ignores brightness)
    foreground: str = "not_border"
    work_size: int = 256  # longest side the clustering and morphology run at
    open_radius: int = 1
    close_radius: int = 2
    fill_holes: bool = True
    sample_pixels: int = 4096
    seed: int = 0

    @classmethod
    def from_config(cls, section: dict | None) -> SegmentationSettings:
        settings = cls(**(section or {}))
        if settings.foreground not in FOREGROUND_RULES:
            raise ValueError(f"segmentation.foreground must be one of {FOREGROUND_RULES}")
        return settings


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (…, 3) -> CIE LAB (D65), float: L 0..100, a and b about -128..127."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


def _work_image(rgb: np.ndarray, work_size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    factor = work_size / max(height, width)
    if factor >= 1:
        return rgb
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _clusters(lab: np.ndarray, settings: SegmentationSettings) -> tuple[np.ndarray, np.ndarray]:
    """K-means labels (h, w) and the cluster centres in LAB (k, 3)."""
    from sklearn.cluster import KMeans

    pixels = lab.reshape(-1, 3)
    features = pixels[:, 1:] if settings.channels == "ab" else pixels
    rng = np.random.default_rng(settings.seed)
    sample = features
    if len(features) > settings.sample_pixels:
        sample = features[rng.choice(len(features), settings.sample_pixels, replace=False)]
    k = min(settings.clusters, len(np.unique(sample, axis=0)))
    model = KMeans(n_clusters=max(k, 1), n_init=3, random_state=settings.seed).fit(sample)
    labels = model.predict(features)
    centres = np.stack(
        [
            pixels[labels == i].mean(axis=0) if np.any(labels == i) else np.full(3, np.nan)
            for i in range(model.n_clusters)
        ]
    )
    return labels.reshape(lab.shape[:2]), centres


def _foreground(labels: np.ndarray, centres: np.ndarray, rule: str) -> np.ndarray:
    """Binary thresholding: which clusters are the object."""
    if rule == "not_border":
        border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        background = np.bincount(border, minlength=len(centres)).argmax()
        return labels != background
    if rule == "most_chromatic":
        chosen = np.nanargmax(np.hypot(centres[:, 1], centres[:, 2]))
    else:
        chosen = np.nanargmin(centres[:, 0]) if rule == "darkest" else np.nanargmax(centres[:, 0])
    return labels == chosen


def _morphology(mask: np.ndarray, radius: int, first: str) -> np.ndarray:
    """Opening (``first="min"``) or closing (``"max"``) with a (2r+1)² square."""
    if radius <= 0:
        return mask
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    size = 2 * radius + 1
    filters = (ImageFilter.MinFilter(size), ImageFilter.MaxFilter(size))
    for image_filter in filters if first == "min" else filters[::-1]:
        image = image.filter(image_filter)
    return np.asarray(image) > 127


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background pixels not connected to the border become foreground."""
    # copy(): Pillow 13 images made by fromarray may share the (read-only) NumPy buffer
    padded = Image.fromarray(np.pad(mask.astype(np.uint8) * 255, 1)).copy()
    ImageDraw.floodfill(padded, (0, 0), 128)
    return (np.asarray(padded) != 128)[1:-1, 1:-1]


def segmentation_stages(rgb: np.ndarray, settings: SegmentationSettings) -> dict[str, object]:
    """Every stage of Ghaderzadeh et al. (n.d.)'s figure for one image (work resolution except
    ``masked``):
    ``rgb``, ``lab``, ``clusters``, ``mask``, ``cleaned``, ``masked`` (full resolution),
    plus ``status`` (``ok`` or ``empty_mask``)."""
    work = _work_image(rgb, settings.work_size)
    lab = rgb_to_lab(work)
    labels, centres = _clusters(lab, settings)
    mask = _foreground(labels, centres, settings.foreground)
    cleaned = _morphology(mask, settings.open_radius, "min")
    cleaned = _morphology(cleaned, settings.close_radius, "max")
    if settings.fill_holes:
        cleaned = _fill_holes(cleaned)
    status = "ok" if cleaned.any() else "empty_mask"
    if status == "ok":
        full = Image.fromarray(cleaned.astype(np.uint8) * 255).resize(
            (rgb.shape[1], rgb.shape[0]), Image.Resampling.NEAREST
        )
        masked = np.where((np.asarray(full) > 127)[..., None], rgb, 0).astype(np.uint8)
    else:
        masked = np.asarray(rgb, dtype=np.uint8)
    return dict(
        rgb=work,
        lab=lab,
        clusters=labels,
        mask=mask,
        cleaned=cleaned,
        masked=masked,
        status=status,
    )


def segment_rgb(rgb: np.ndarray, settings: SegmentationSettings) -> tuple[np.ndarray, str]:
    """The masked RGB image (same size as ``rgb``, background black) and its status.

    This is the app-side step: run it on the decoded full-resolution image, then resize
    to the model's input as usual.
    """
    stages = segmentation_stages(rgb, settings)
    return stages["masked"], stages["status"]


def plot_stages(
    examples: list[tuple[str, np.ndarray]], settings: SegmentationSettings, path
) -> None:
    """Ghaderzadeh et al. (n.d.)'s figure: one row per example image, one column per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["RGB", "LAB", "K-means clusters", "threshold mask", "cleaned mask", "masked RGB"]
    figure, axes = plt.subplots(len(examples), 6, figsize=(13, 2.3 * len(examples)), squeeze=False)
    for row, (name, rgb) in zip(axes, examples, strict=True):
        stages = segmentation_stages(rgb, settings)
        lab = stages["lab"]
        span = np.ptp(lab, axis=(0, 1)) + 1e-9
        shown = [
            stages["rgb"],
            (lab - lab.min(axis=(0, 1))) / span,
            stages["clusters"],
            stages["mask"],
            stages["cleaned"],
            stages["masked"],
        ]
        for column, (axis, image, title) in enumerate(zip(row, shown, titles, strict=True)):
            axis.imshow(image, cmap="tab10" if column == 2 else "gray", interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(title, fontsize=9)
        row[0].set_ylabel(name, fontsize=8)
    figure.suptitle(
        f"LAB + K-means segmentation (k={settings.clusters}, {settings.channels}, "
        f"foreground: {settings.foreground})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100, format="png")
    plt.close(figure)


def app_step(section: dict | None) -> Callable[[np.ndarray], np.ndarray] | None:
    """The segmentation an app runs on a decoded image before resizing it, as a function
    of the RGB array (None when the dataset's segmentation is off). The mobile emulation
    applies it on every path, since the TFLite model does not contain it."""
    if not section or not section.get("enabled", True):
        return None
    settings = SegmentationSettings.from_config(section)

    def segment(rgb: np.ndarray) -> np.ndarray:
        return segment_rgb(rgb, settings)[0]

    return segment


def segment(args) -> None:
    """The segment stage: a masked PNG copy of every accepted image, a per-image table and
    a figure of the stages. ``args`` are scripts/segment.py's flags."""
    import pandas as pd

    from mobileclf import atomic
    from mobileclf.data.images import load_rgb

    options = dict(args.options)
    max_pixels = options.pop("max_pixels", 100_000_000)
    oversize = options.pop("oversize", "reject")
    settings = SegmentationSettings.from_config(options)
    manifest = pd.read_csv(args.manifest, keep_default_na=False)
    accepted = manifest[manifest.status == "ok"]
    out = Path(args.images)
    rows, examples = [], {}
    for path, label in zip(accepted.path, accepted.label, strict=True):
        rgb = load_rgb(Path(args.root) / path, max_pixels, oversize).rgb
        masked, status = segment_rgb(rgb, settings)
        if status != "ok":
            log.warning("%s: empty mask after cleaning, kept unmasked", path)
        # PNG content under the manifest's relative path, whatever its extension: the
        # manifest indexes both trees and decoding goes by content (mobileclf.data.images).
        atomic.write_with(out / path, lambda p, m=masked: Image.fromarray(m).save(p, format="PNG"))
        rows.append(
            dict(path=path, label=label, status=status, foreground=float(masked.any(-1).mean()))
        )
        examples.setdefault(label, (f"{label}: {Path(path).name}", rgb))
    table = pd.DataFrame(rows, columns=["path", "label", "status", "foreground"])
    log.info(
        "%d images segmented, %d with an empty mask (kept unmasked), mean foreground %.3f",
        len(table),
        int((table.status != "ok").sum()),
        table.foreground.mean(),
    )
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    atomic.write_with(args.figure, lambda p: plot_stages(list(examples.values())[:4], settings, p))
