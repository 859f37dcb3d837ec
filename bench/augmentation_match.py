"""Do the pipeline's Table 1 generators augment as Keras' ImageDataGenerator does?

``tests/unit/test_augmentation.py`` checks that one composed resampling equals
ImageDataGenerator's for the same parameters, and that the draws cover the same ranges.
This script checks the whole thing in distribution on real images: every image of
``--root`` (resized as the workflow resizes, bilinear) goes ``--draws`` times through
``ImageDataGenerator.random_transform`` (the published procedure's generator,
keras.src.legacy) and through :func:`mobileclf.train.augmentation.augment_fn`, and the
table compares what a model sees: mean pixel value, per-image std, mean |augmented −
original| and mean horizontal gradient (sharpness), with and without the brightness draw.
Two different random streams: figures agree to within sampling noise, not exactly.

    python bench/augmentation_match.py --root ../shared/datasets/sarscov2-ct-mini \\
        --size 50 --generators g2 g3 g4 --draws 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_average

sys.path.insert(0, str(REPO / "scripts"))

NOT_AUGMENTATION = ("rescale", "featurewise_center", "featurewise_std_normalization")


def load_images(root: Path, size: int) -> np.ndarray:
    """Every image under ``root`` as float32 RGB at ``size`` (the workflow's resize)."""
    from mobileclf.data.images import load_rgb
    from mobileclf.data.resize import to_square

    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    return np.stack([to_square(load_rgb(p).rgb, size) for p in files]).astype(np.float32)


def figures(original: np.ndarray, augmented: np.ndarray) -> list[float]:
    """Mean, per-image std, mean |Δ| to the original, mean horizontal gradient."""
    return [
        float(augmented.mean()),
        float(augmented.std(axis=(1, 2, 3)).mean()),
        float(np.abs(augmented - original).mean()),
        float(np.abs(np.diff(augmented, axis=2)).mean()),
    ]


def published(spec: dict, images: np.ndarray, draws: int, seed: int) -> np.ndarray:
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    np.random.seed(seed)  # ImageDataGenerator draws from NumPy's global stream
    generator = ImageDataGenerator(**spec)
    return np.stack([generator.random_transform(x.copy()) for _ in range(draws) for x in images])


def pipeline(spec: dict, images: np.ndarray, draws: int, seed: int) -> np.ndarray:
    import tensorflow as tf

    from mobileclf.train.augmentation import augment_fn

    apply = augment_fn(spec, seed)
    batch = tf.constant(images)
    return np.concatenate([apply(batch, None)[0].numpy() for _ in range(draws)])


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--root", required=True, help="image folder (read in place)")
    arguments.add_argument("--size", type=int, default=50)
    arguments.add_argument("--generators", nargs="+", default=["g2", "g3", "g4"])
    arguments.add_argument("--draws", type=int, default=5, help="augmentations per image")
    arguments.add_argument("--config", default=str(REPO / "config" / "paper.yaml"))
    arguments.add_argument("--seed", type=int, default=0)
    args = arguments.parse_args()
    specs = yaml.safe_load(Path(args.config).read_text())["generators"]
    images = load_images(Path(args.root), args.size)
    original = np.concatenate([images] * args.draws)
    print(f"{len(images)} images at {args.size} px × {args.draws} draws; {load_average()}")
    print("| generator | brightness | side | mean | std per image | mean abs change | gradient |")
    print("|---|---|---|---|---|---|---|")
    base = figures(original, original)
    print("| (none) | | original | " + " | ".join(f"{v:.1f}" for v in base) + " |")
    for name in args.generators:
        full = {k: v for k, v in specs[name].items() if k not in NOT_AUGMENTATION}
        for brightness in (True, False):
            spec = (
                dict(full)
                if brightness
                else {k: v for k, v in full.items() if k != "brightness_range"}
            )
            for side, make in (("published", published), ("pipeline", pipeline)):
                values = figures(original, make(spec, images, args.draws, args.seed))
                print(
                    f"| {name} | {'on' if brightness else 'off'} | {side} | "
                    + " | ".join(f"{v:.2f}" for v in values)
                    + " |"
                )


if __name__ == "__main__":
    main()
