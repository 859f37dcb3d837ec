"""Train generators (Muneeb et al. (2022), Table 1) as Keras preprocessing layers for tf.data.

A generator spec uses the names of Keras' legacy ``ImageDataGenerator`` so the paper's
settings can be copied verbatim. Geometric and brightness changes run in the tf.data
input pipeline on training batches only. ``rescale`` and the featurewise statistics are
*not* augmentation: they go inside the model (:func:`input_normalization`), so validation,
test and the exported TFLite model see exactly the same preprocessing.
"""

from __future__ import annotations

import math

import numpy as np

AUGMENTATION_KEYS = {
    "rotation_range",
    "brightness_range",
    "horizontal_flip",
    "vertical_flip",
    "zoom_range",
    "shear_range",
    "width_shift_range",
    "height_shift_range",
    "fill_mode",
}
# the keys composed into one affine transform per image (fill_mode only says how)
GEOMETRIC_KEYS = AUGMENTATION_KEYS - {"brightness_range", "fill_mode"}


def input_normalization(
    spec: dict, train_images: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Return (scale, mean, std) mapping raw 0..255 pixels to the model's input space.

    ``x' = (x * scale - mean) / std`` per channel, with mean/std from the fold's
    *training* images after rescaling (ImageDataGenerator.fit's featurewise statistics).
    """
    scale = float(spec.get("rescale", 1.0) or 1.0)
    mean = np.zeros(3, dtype=np.float64)
    std = np.ones(3, dtype=np.float64)
    if spec.get("featurewise_center") or spec.get("featurewise_std_normalization"):
        # two passes in float64 over a uint8 memory map: exact and bounded in memory
        pixels = train_images.reshape(-1, 3)
        count = pixels.shape[0]
        total = np.zeros(3)
        squares = np.zeros(3)
        for start in range(0, count, 1 << 20):
            block = pixels[start : start + (1 << 20)].astype(np.float64) * scale
            total += block.sum(axis=0)
            squares += (block**2).sum(axis=0)
        channel_mean = total / count
        channel_std = np.sqrt(np.maximum(squares / count - channel_mean**2, 0.0))
        if spec.get("featurewise_center"):
            mean = channel_mean
        if spec.get("featurewise_std_normalization"):
            std = channel_std + 1e-6
    return scale, mean, std


def affine_transforms(parameters: dict, height: int, width: int):
    """Per-image projective transforms (B, 8) for ImageProjectiveTransformV3.

    The matrix is built exactly as ImageDataGenerator.apply_transform builds it
    (keras.src.legacy.preprocessing.image.apply_affine_transform, then the flips):
    rotation · shift · shear · zoom about the image centre, in (x, y) = (column, row)
    coordinates, mapping each output pixel to where it is read in the input. Composing
    them means one bilinear resampling per image, as the published generator does, instead
    of one per transform (blurrier, and 4x the work for g4). ``parameters`` holds (B,)
    tensors: theta and shear in degrees, tx/ty in pixels, zx/zy, flip_h/flip_v in {0, 1}.
    """
    import tensorflow as tf

    theta = parameters["theta"] * (math.pi / 180.0)
    shear = parameters["shear"] * (math.pi / 180.0)
    one, zero = tf.ones_like(theta), tf.zeros_like(theta)

    def matrices(rows):
        return tf.stack([tf.stack(row, axis=-1) for row in rows], axis=-2)

    rotation = matrices(
        [
            [tf.cos(theta), -tf.sin(theta), zero],
            [tf.sin(theta), tf.cos(theta), zero],
            [zero, zero, one],
        ]
    )
    shift = matrices(
        [[one, zero, parameters["tx"]], [zero, one, parameters["ty"]], [zero, zero, one]]
    )
    shearing = matrices(
        [[one, -tf.sin(shear), zero], [zero, tf.cos(shear), zero], [zero, zero, one]]
    )
    zoom = matrices(
        [[parameters["zx"], zero, zero], [zero, parameters["zy"], zero], [zero, zero, one]]
    )
    # ImageDataGenerator centres x on the row count and y on the column count (the same
    # for the square images this pipeline trains on)
    o_x, o_y = height / 2 - 0.5, width / 2 - 0.5
    to_centre = tf.constant([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]], tf.float32)
    from_centre = tf.constant([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]], tf.float32)
    # the flips act on the transformed image: output (x, y) reads it at the mirrored pixel
    flip_h, flip_v = parameters["flip_h"], parameters["flip_v"]
    flips = matrices(
        [
            [1 - 2 * flip_h, zero, flip_h * (width - 1)],
            [zero, 1 - 2 * flip_v, flip_v * (height - 1)],
            [zero, zero, one],
        ]
    )
    full = to_centre @ rotation @ shift @ shearing @ zoom @ from_centre @ flips
    return tf.concat([tf.reshape(full[:, :2, :], [-1, 6]), tf.zeros_like(full[:, 0, :2])], 1)


def random_parameters(spec: dict, generator, count, height: int, width: int) -> dict:
    """ImageDataGenerator.get_random_transform's draws for ``count`` images, as tensors."""
    import tensorflow as tf

    def uniform(low: float, high: float):
        return generator.uniform([count], low, high) if high > low else tf.fill([count], low)

    def coin(key: str):
        if not spec.get(key):
            return tf.zeros([count])
        return tf.cast(generator.uniform([count]) < 0.5, tf.float32)

    rotation, shear, zoom, height_shift, width_shift = (
        float(spec.get(key) or 0)
        for key in (
            "rotation_range",
            "shear_range",
            "zoom_range",
            "height_shift_range",
            "width_shift_range",
        )
    )
    # shift fractions of the image (< 1) are scaled to pixels, as ImageDataGenerator does
    return {
        "theta": uniform(-rotation, rotation),
        "tx": uniform(-height_shift, height_shift) * (height if height_shift < 1 else 1),
        "ty": uniform(-width_shift, width_shift) * (width if width_shift < 1 else 1),
        "shear": uniform(-shear, shear),
        "zx": uniform(1 - zoom, 1 + zoom),
        "zy": uniform(1 - zoom, 1 + zoom),
        "flip_h": coin("horizontal_flip"),
        "flip_v": coin("vertical_flip"),
    }


def transform_images(images, transforms, fill_mode: str = "nearest"):
    """Resample a float batch once through per-image ``transforms`` (bilinear, as order=1)."""
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode=fill_mode.upper(),
    )


def augment_fn(spec: dict, seed: int):
    """A tf.data map function applying the spec's augmentation to a float batch, or None."""
    if not any(spec.get(key) for key in GEOMETRIC_KEYS | {"brightness_range"}):
        return None
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(seed)
    geometric = any(spec.get(key) for key in GEOMETRIC_KEYS)
    fill_mode = spec.get("fill_mode", "nearest")

    def apply(images, labels):
        count = tf.shape(images)[0]
        height, width = images.shape[1], images.shape[2]
        if geometric:
            parameters = random_parameters(spec, generator, count, height, width)
            images = transform_images(
                images, affine_transforms(parameters, height, width), fill_mode
            )
        if spec.get("brightness_range"):
            low, high = spec["brightness_range"]
            # multiplicative, per image, as ImageEnhance.Brightness in ImageDataGenerator
            factors = generator.uniform([count, 1, 1, 1], low, high)
            images = tf.clip_by_value(images * factors, 0.0, 255.0)
        return images, labels

    return apply


def view_draw_fn(plain_probability: float, seed: int, plain_draws: int = 0):
    """A tf.data map function for the ``phone_views`` generator key: from one image's
    stack (K+1, S, S, 3) = plain image then its K phone views (mobileclf.train.phone_views),
    pick the plain image with probability ``plain_probability``, else one view uniformly.

    ``plain_draws`` > 0 (``plain_epochs`` × training images) is a plain warm-up: the first
    that many draws of this function (the first ``plain_epochs`` epochs, the map being
    sequential) take the plain image whatever the draw. Why: on model1 in 15 epochs the
    phone generator underfits (training accuracy ~0.80 against g1's 0.99) and loses
    computer-path accuracy; fitting the plain task first, then the views, is the curriculum
    this option measures (docs/phone-views.md, "Recipe search"). The random draws are made
    either way, so 0 keeps the draws, and the models, of the generator without it.
    ``plain_pass`` (mobileclf.train.fit._phone_dataset) adds a plain copy of every image
    beside this draw; the draws, one per image and epoch, are counted the same.

    Mapped per image before batching, so every epoch draws afresh for every image; its own
    stateful generator (not augment_fn's) keeps Table 1 augmentation draws unchanged.
    """
    import tensorflow as tf

    generator = tf.random.Generator.from_seed([int(seed), VIEW_DRAW_STREAM])
    drawn = tf.Variable(0, dtype=tf.int64, trainable=False)  # draws so far, every epoch

    def draw(stack, label):
        views = tf.shape(stack)[0] - 1
        plain = generator.uniform([]) < plain_probability
        view = 1 + generator.uniform([], 0, views, dtype=tf.int32)
        warm = drawn.assign_add(1) <= int(plain_draws)
        return stack[tf.where(tf.logical_or(plain, warm), 0, view)], label

    return draw


VIEW_DRAW_STREAM = 0x7056  # second seed word of the view draws ("pV"), see view_draw_fn
