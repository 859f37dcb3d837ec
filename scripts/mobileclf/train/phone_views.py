"""The phone_views stage: K seeded emulated phone inputs per training-eligible image.

Why: a model trained only on the computer path (Pillow's antialiased resize of the stored
file) loses its accuracy on the phone (Muneeb et al. (2022), section 2.7; our mobile stage
measures the same). Training on what the phone feeds the model closes that gap. A
generator with a ``phone_views`` section trains, per epoch and per image, on the plain
image (probability ``plain_probability``) or on one of K views made here through the very
code the mobile stage scores with (:mod:`mobileclf.mobile.camera`): the gallery path or
the live-camera path with conditions drawn at random from ranges (framing, tilt, light,
contrast, blur, noise, YUV, JPEG, then the template's crop + nearest resize).

Views are expensive (a 640×480 frame each), so they are made once per image, size and
generator in a cached job, and training only indexes them. Only images outside the
holdout get views (a fold's test images get them too, but a fold trains on its ``train``
rows alone: :meth:`PhoneViews.for_training` refuses any other row).

Seeds: view k of image ``key`` is drawn from ``SeedSequence([VIEW_DOMAIN, seed,
crc32(key), k])``. The evaluation inputs (mobile stage, CV phone metrics) use
:func:`mobileclf.mobile.camera.image_seed` = ``SeedSequence([seed, severity,
crc32(key)])``: the leading domain tag (crc32 of "mobileclf.phone_views", not a seed or a
severity anyone uses) keeps the two streams apart, so no training view repeats an
evaluation input's draw.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from mobileclf import atomic
from mobileclf.errors import UserError

log = logging.getLogger("phone_views")

VIEW_DOMAIN = zlib.crc32(b"mobileclf.phone_views")
# condition families a bench (or a user) can switch off one at a time
FAMILIES = ("blur", "light", "compression", "framing")
# settings that only training reads: changing them must not remake the views
TRAINING_ONLY = ("plain_probability", "plain_epochs", "plain_pass", "draws_per_epoch")


class PhoneViewsError(UserError):
    """The views file does not match the training data (stale or from another run)."""


@dataclass(frozen=True)
class PhoneViewSettings:
    """A generator's ``phone_views`` section (defaults = the schema's).

    Each camera view draws every condition uniformly between 0 (or the low end) and its
    range: ``fill`` [low, high] fraction of the frame, ``offset``, ``rotation`` (degrees),
    ``light``, ``contrast``, ``blur`` (sigma), ``noise`` (std); YUV with
    ``yuv_probability``, JPEG with ``jpeg_probability`` at a quality in ``jpeg_quality``.
    The defaults cover ``mobile.camera_levels`` of config/config.yaml and a bit beyond.
    ``families`` switches off a whole family (its conditions stay at "none").
    ``joint_probability``: chance that a camera view draws one severity t ~ U(0, 1) and
    puts every condition at t of its range, together, as a camera level does (a dim room
    is also noisy and blurred); else each condition is drawn on its own, so few views are
    bad in every way at once. 0 (the default) draws nothing extra: the views stay those of
    the generator without the key.
    """

    views: int = 8
    plain_probability: float = 0.3
    plain_epochs: int = 0
    plain_pass: bool = False
    draws_per_epoch: int = 1
    gallery_probability: float = 0.2
    fill: tuple[float, float] = (0.6, 1.0)
    offset: float = 0.1
    rotation: float = 12.0
    light: float = 0.4
    contrast: float = 0.25
    blur: float = 3.0
    noise: float = 12.0
    yuv_probability: float = 0.8
    jpeg_probability: float = 0.8
    jpeg_quality: tuple[int, int] = (50, 95)
    families: dict = field(default_factory=lambda: dict.fromkeys(FAMILIES, True))
    joint_probability: float = 0.0

    @classmethod
    def from_config(cls, section: dict) -> PhoneViewSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"unknown phone_views key(s) {unknown}; use {sorted(known)}")
        values = dict(section)
        for key in ("fill", "jpeg_quality"):
            if key in values:
                values[key] = tuple(values[key])
        values["families"] = {**dict.fromkeys(FAMILIES, True), **values.get("families", {})}
        return cls(**values)

    def view_options(self) -> dict:
        """What the views depend on (not TRAINING_ONLY's keys, which only training reads;
        ``joint_probability`` only when set, as 0 leaves the views unchanged)."""
        options = asdict(self)
        for key in TRAINING_ONLY:
            options.pop(key)
        if not options["joint_probability"]:
            options.pop("joint_probability")
        return options


def view_seed(seed: int, key: str, view: int) -> np.random.SeedSequence:
    """The random stream of view ``view`` of image ``key`` (see the module docstring)."""
    return np.random.SeedSequence([VIEW_DOMAIN, int(seed), zlib.crc32(key.encode()), int(view)])


def draw_view(settings: PhoneViewSettings, rng: np.random.Generator):
    """("gallery", None) or ("camera", CameraConditions) drawn from the settings' ranges:
    each condition on its own, or (``joint_probability``) all at one drawn severity t,
    fill and JPEG quality going from their high to their low end as t grows."""
    from mobileclf.mobile.camera import CameraConditions

    if rng.random() < settings.gallery_probability:
        return "gallery", None
    joint = bool(settings.joint_probability) and rng.random() < settings.joint_probability
    severity = rng.random() if joint else None

    def up_to(largest: float) -> float:
        return severity * largest if joint else float(rng.uniform(0, largest))

    on = settings.families
    conditions = {}
    if on["framing"]:
        low, high = settings.fill
        fill = high - severity * (high - low) if joint else float(rng.uniform(low, high))
        conditions.update(
            fill=fill, offset=up_to(settings.offset), rotation=up_to(settings.rotation)
        )
    if on["light"]:
        conditions.update(light=up_to(settings.light), contrast=up_to(settings.contrast))
    if on["blur"]:
        conditions["blur"] = up_to(settings.blur)
    conditions["noise"] = up_to(settings.noise)
    if on["compression"]:
        conditions["yuv"] = bool(rng.random() < settings.yuv_probability)
        if rng.random() < settings.jpeg_probability:
            worst, best = settings.jpeg_quality
            conditions["jpeg_quality"] = (
                round(best - severity * (best - worst))
                if joint
                else int(rng.integers(worst, best, endpoint=True))
            )
    return "camera", CameraConditions(**conditions)


def make_views(
    rgb: np.ndarray,
    size: int,
    settings: PhoneViewSettings,
    seed: int,
    key: str,
    sensor_orientation: int = 90,
    segment=None,
) -> tuple[np.ndarray, list[dict]]:
    """K views (K, size, size, 3) uint8 of one decoded image, and what each view was.

    The same (image, seed, key, settings) always give the same views. ``segment`` is the
    app-side segmentation step, applied where the mobile stage applies it.
    """
    from mobileclf.mobile.camera import camera_input, gallery_input

    out = np.empty((settings.views, size, size, 3), dtype=np.uint8)
    records = []
    for k in range(settings.views):
        rng = np.random.default_rng(view_seed(seed, key, k))
        path, conditions = draw_view(settings, rng)
        if conditions is None:
            out[k] = gallery_input(segment(rgb) if segment else rgb, size)
            described = {}
        else:
            out[k] = camera_input(rgb, size, conditions, rng, sensor_orientation, segment)
            described = {
                name: value
                for name, value in asdict(conditions).items()
                if value not in (0.0, None, False)
            }
        records.append({"key": key, "view": k, "path": path, "conditions": json.dumps(described)})
    return out, records


def eligible_rows(splits: pd.DataFrame) -> np.ndarray:
    """Rows that may ever be trained on: every image outside the holdout."""
    return np.flatnonzero(splits["set"].to_numpy() != "holdout")


def phone_views(args) -> None:
    """The phone_views stage; ``args`` are scripts/phone_views.py's flags."""
    from mobileclf.data.images import load_rgb
    from mobileclf.data.segment import app_step
    from mobileclf.data.split import read_table
    from mobileclf.parallel import map_threads

    options = args.options
    settings = PhoneViewSettings.from_config(options["phone_views"])
    size = int(args.size)
    splits = read_table(args.splits)
    rows = eligible_rows(splits)
    segment = app_step(options["segmentation"])
    views = np.empty((len(rows), settings.views, size, size, 3), dtype=np.uint8)

    def emulate(i: int) -> list[dict]:  # one image, its own streams: any thread, same views
        key = str(splits.path.iloc[rows[i]])
        rgb = load_rgb(Path(args.root) / key, options["max_pixels"], options["oversize"]).rgb
        views[i], described = make_views(
            rgb, size, settings, options["seed"], key, options["sensor_orientation"], segment
        )
        return described

    records = [
        record for image in map_threads(emulate, range(len(rows)), args.threads) for record in image
    ]
    table = pd.DataFrame(records, columns=["key", "view", "path", "conditions"])
    log.info(
        "%d views of %d training-eligible images at %d px (%d gallery, %d camera); holdout "
        "images (%d) have none",
        len(table),
        len(rows),
        size,
        (table.path == "gallery").sum(),
        (table.path == "camera").sum(),
        len(splits) - len(rows),
    )
    atomic.write_with(args.table, lambda p: table.to_csv(p, index=False))
    atomic.write_npy(args.views, views)


@dataclass
class PhoneViews:
    """A views file aligned with a training job's rows (row i of splits.csv / the arrays).

    ``row_view[i]`` is the views-file index of row i's image, -1 when it has none
    (holdout images never do).
    """

    arrays: np.ndarray  # (M, K, S, S, 3) uint8, memory-mapped
    keys: np.ndarray  # (M,) image key (splits.csv path) of each views-file entry
    row_view: np.ndarray  # (N,) index into arrays, or -1

    @classmethod
    def load(cls, views_path: str | Path, row_keys) -> PhoneViews:
        arrays = np.load(views_path, mmap_mode="r")
        table = pd.read_csv(table_path(views_path), keep_default_na=False)
        keys = table.key.to_numpy()[:: max(arrays.shape[1], 1)]
        if len(keys) != len(arrays) or len(table) != arrays.shape[0] * arrays.shape[1]:
            raise PhoneViewsError(
                f"{views_path} and {table_path(views_path)} disagree ({len(arrays)} images "
                f"vs {len(table)} views); delete both and rerun"
            )
        where = {key: i for i, key in enumerate(keys)}
        row_view = np.array([where.get(key, -1) for key in row_keys], dtype=np.int64)
        return cls(arrays, keys, row_view)

    def for_training(self, rows: np.ndarray) -> np.ndarray:
        """The (len(rows), K, S, S, 3) views of ``rows``, which must all be training rows
        with views: a row without views (holdout) is refused, never silently plain."""
        missing = rows[self.row_view[rows] < 0]
        if len(missing):
            raise PhoneViewsError(
                f"{len(missing)} training row(s) (first: row {missing[0]}) have no phone "
                "views: the views file comes from another split; delete it and rerun"
            )
        return np.asarray(self.arrays[self.row_view[rows]])


def table_path(views_path: str | Path) -> Path:
    """views.csv beside the views array."""
    return Path(views_path).with_suffix(".csv")


def views_file(paths: list[str], generator: str, size: int) -> str:
    """Among train_final's phone view inputs, the file of the chosen generator and size."""
    for path in paths:
        if Path(path).stem == generator and Path(path).parent.name == str(size):
            return path
    raise PhoneViewsError(
        f"no phone views for generator {generator!r} at {size} px among the job's inputs; "
        "the config changed since selection: rerun the CV grid"
    )
