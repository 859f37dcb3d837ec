"""The train generators (Muneeb et al. (2022), Table 1) against the legacy
ImageDataGenerator they copy."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import REPO

PARAMETER_SETS = [
    dict(theta=0.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, flip_h=1, flip_v=0),
    dict(theta=31.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, flip_h=0, flip_v=1),
    dict(theta=-17.0, tx=3.5, ty=-2.25, shear=11.0, zx=0.85, zy=1.15, flip_h=1, flip_v=1),
    dict(theta=40.0, tx=-4.0, ty=4.0, shear=-20.0, zx=1.2, zy=0.8, flip_h=0, flip_v=0),
]


def _smooth_image(size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:size, 0:size] / size
    return np.stack(
        [255 * (0.5 + 0.5 * np.sin(6 * rows + 3 * cols + phase)) for phase in rng.random(3) * 6],
        axis=-1,
    ).astype(np.float32)


@pytest.mark.parametrize("parameters", PARAMETER_SETS)
def test_one_composed_resampling_equals_image_data_generator(parameters):
    import tensorflow as tf
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from mobileclf.train.augmentation import affine_transforms, transform_images

    image = _smooth_image()
    legacy = ImageDataGenerator(fill_mode="nearest").apply_transform(
        image,
        {
            **parameters,
            "flip_horizontal": parameters["flip_h"],
            "flip_vertical": parameters["flip_v"],
        },
    )
    batch = {key: tf.constant([float(value)]) for key, value in parameters.items()}
    ours = transform_images(image[None], affine_transforms(batch, 24, 24))[0].numpy()
    assert np.abs(ours - image).max() > 20  # the transform really moved the pixels
    np.testing.assert_allclose(ours, legacy, atol=0.05)


G4 = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["generators"]["g4"]


def test_random_draws_cover_the_generator_ranges():
    import tensorflow as tf

    from mobileclf.train.augmentation import random_parameters

    draws = {
        key: value.numpy()
        for key, value in random_parameters(
            G4, tf.random.Generator.from_seed(1), 4000, 50, 50
        ).items()
    }
    for key, bound in (("theta", 40), ("shear", 0.2), ("tx", 10), ("ty", 10)):
        assert (
            -bound <= draws[key].min() < -0.95 * bound and 0.95 * bound < draws[key].max() <= bound
        )
    for key in ("zx", "zy"):  # independent zoom per axis, as ImageDataGenerator draws them
        assert 0.8 <= draws[key].min() < 0.81 and 1.19 < draws[key].max() <= 1.2
    assert abs(np.corrcoef(draws["zx"], draws["zy"])[0, 1]) < 0.1
    for key in ("flip_h", "flip_v"):
        assert set(np.unique(draws[key])) == {0.0, 1.0} and 0.45 < draws[key].mean() < 0.55
    no_flips = random_parameters(
        {"rotation_range": 10}, tf.random.Generator.from_seed(1), 8, 50, 50
    )
    assert not no_flips["flip_h"].numpy().any() and np.all(no_flips["zx"].numpy() == 1)


def test_augmentation_is_seeded_and_only_where_the_spec_asks():
    from mobileclf.train.augmentation import augment_fn

    images = np.repeat(_smooth_image()[None], 6, axis=0)
    assert augment_fn({"rescale": 1 / 255, "fill_mode": "nearest"}, 3) is None

    def run(seed):
        return augment_fn(G4, seed)(images, None)[0].numpy()

    first, again, other = run(3), run(3), run(4)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 20
    assert first.min() >= 0 and first.max() <= 255
    # each image of the batch gets its own transform
    assert min(np.abs(first[i] - first[0]).max() for i in range(1, 6)) > 5
