"""The phone-path generator (mobileclf.train.phone_views): seeded views, made for training
images only, drawn in training from the fold's train rows only, on a seed stream apart
from the evaluation inputs', composing with the Table 1 keys."""

from __future__ import annotations

import argparse
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO
from PIL import Image

from mobileclf.data.split import SplitOptions, make_splits, read_table
from mobileclf.mobile.camera import CameraConditions, camera_input, image_seed
from mobileclf.train.phone_views import (
    PhoneViews,
    PhoneViewsError,
    PhoneViewSettings,
    make_views,
    phone_views,
    table_path,
    view_seed,
)
from mobileclf.workflow import params as P
from mobileclf.workflow import targets as T
from mobileclf.workflow.config import prepare_config

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
LEVELS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["mobile"]["camera_levels"]


def _picture(seed: int, height: int = 36, width: int = 44) -> np.ndarray:
    """A small textured RGB picture (views of a flat image would all look alike)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    base = 120 + 80 * np.sin(rows / (3 + seed % 4) + cols / 5.0)
    return np.clip(base[..., None] + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def views_run(tmp_path_factory):
    """A tiny dataset on disk, its real splits, and the phone_views stage's files."""
    root = tmp_path_factory.mktemp("phone_views")
    rows = []
    for label in ("a", "b"):
        (root / "data" / label).mkdir(parents=True)
        for i in range(6):
            path = f"{label}/{i}.png"
            Image.fromarray(_picture(len(rows))).save(root / "data" / path)
            rows.append({"path": path, "label": label, "group": "", "status": "ok"})
    splits = make_splits(pd.DataFrame(rows), SplitOptions(3, 0.34, 0.0, 7))
    splits.to_csv(root / "splits.csv", index=False)
    settings = PhoneViewSettings(views=3, gallery_probability=0.3)
    options = {
        "phone_views": settings.view_options(),
        "sensor_orientation": 90,
        "max_pixels": 10**8,
        "oversize": "reject",
        "seed": 42,
        "segmentation": None,
    }
    args = argparse.Namespace(
        splits=str(root / "splits.csv"),
        root=str(root / "data"),
        views=str(root / "views" / "12" / "phone.npy"),
        table=str(root / "views" / "12" / "phone.csv"),
        size=12,
        options=options,
        threads=2,  # the rule's
    )
    (root / "views" / "12").mkdir(parents=True)
    phone_views(args)
    return root, read_table(root / "splits.csv"), args


def test_views_do_not_depend_on_the_thread_count(views_run, tmp_path):
    """Each image draws from its own streams, so one thread makes the same file as two."""
    _, _, args = views_run
    one = argparse.Namespace(
        **{
            **vars(args),
            "threads": 1,
            "views": str(tmp_path / "v.npy"),
            "table": str(tmp_path / "v.csv"),
        }
    )
    phone_views(one)
    assert np.array_equal(np.load(one.views), np.load(args.views))
    assert pd.read_csv(one.table).equals(pd.read_csv(args.table))
    assert (pd.read_csv(args.table).path == "camera").any()  # camera views were compared


def test_views_are_deterministic_given_the_seed():
    settings = PhoneViewSettings(views=4, gallery_probability=0.25)
    picture = _picture(3)
    first, records = make_views(picture, 16, settings, 42, "a/1.png")
    again, _ = make_views(picture, 16, settings, 42, "a/1.png")
    other_seed, _ = make_views(picture, 16, settings, 43, "a/1.png")
    np.testing.assert_array_equal(first, again)
    assert first.shape == (4, 16, 16, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, other_seed)
    # the four views differ from each other (each draws its own conditions)
    assert len({view.tobytes() for view in first}) == 4
    assert [r["view"] for r in records] == [0, 1, 2, 3]


def test_families_switched_off_leave_their_conditions_at_none():
    from mobileclf.train.phone_views import draw_view

    off = PhoneViewSettings(
        gallery_probability=0.0,
        families={"blur": False, "light": False, "compression": False, "framing": True},
    )
    for view in range(20):
        path, conditions = draw_view(off, np.random.default_rng(view_seed(1, "x", view)))
        assert path == "camera"
        assert conditions.blur == conditions.light == conditions.contrast == 0.0
        assert conditions.jpeg_quality is None and not conditions.yuv
        assert 0.6 <= conditions.fill <= 1.0


def test_joint_views_put_every_condition_at_one_severity_and_zero_changes_nothing():
    from mobileclf.train.phone_views import draw_view

    plain = PhoneViewSettings(gallery_probability=0.0)
    zero = PhoneViewSettings(gallery_probability=0.0, joint_probability=0.0)
    joint = PhoneViewSettings(gallery_probability=0.0, joint_probability=1.0)
    # unset and 0: the same draws, and the same options (so the same cached views)
    assert zero.view_options() == plain.view_options()
    assert "joint_probability" in joint.view_options()
    severities = []
    for view in range(30):
        streams = [np.random.default_rng(view_seed(1, "x", view)) for _ in range(3)]
        assert draw_view(zero, streams[0]) == draw_view(plain, streams[1])
        path, c = draw_view(joint, streams[2])
        assert path == "camera"
        t = c.noise / joint.noise
        low, high = joint.fill
        for value, scale in [
            (c.blur, joint.blur),
            (c.rotation, joint.rotation),
            (c.offset, joint.offset),
            (c.light, joint.light),
            (c.contrast, joint.contrast),
            (high - c.fill, high - low),
        ]:
            assert value == pytest.approx(t * scale)
        if c.jpeg_quality is not None:
            assert c.jpeg_quality == round(95 - t * 45)
        severities.append(t)
    # the severity itself spans the range
    assert min(severities) < 0.2 and max(severities) > 0.8
    # half joint: some views joint, some not
    half = PhoneViewSettings(gallery_probability=0.0, joint_probability=0.5)
    drawn = [draw_view(half, np.random.default_rng(view_seed(2, "y", v)))[1] for v in range(40)]
    coupled = [c.blur / half.blur == pytest.approx(c.noise / half.noise) for c in drawn]
    assert 5 < sum(coupled) < 35


def test_views_exist_only_for_non_holdout_images(views_run):
    _, splits, args = views_run
    views = np.load(args.views)
    table = pd.read_csv(table_path(args.views), keep_default_na=False)
    eligible = splits.path[splits.set != "holdout"].tolist()
    assert views.shape == (len(eligible), 3, 12, 12, 3)
    assert table.key.drop_duplicates().tolist() == eligible
    assert not set(table.key) & set(splits.path[splits.set == "holdout"])
    assert set(table.path) <= {"gallery", "camera"}


def test_training_draws_only_the_folds_train_rows_by_image_key(views_run):
    """From the files: the arrays a fold trains on are exactly the views of its train
    images (identified by key), never those of its test images or of the holdout."""
    _, splits, args = views_run
    stored = np.load(args.views)
    table = pd.read_csv(table_path(args.views), keep_default_na=False)
    first_view_of = {key: i for i, key in enumerate(table.key[::3])}
    aligned = PhoneViews.load(args.views, splits.path)
    for column in ("fold0", "fold1", "fold2"):
        roles = splits[column].to_numpy()
        train = np.flatnonzero(roles == "train")
        drawn = aligned.for_training(train)
        keys = aligned.keys[aligned.row_view[train]]
        assert keys.tolist() == splits.path.iloc[train].tolist()
        assert not set(keys) & set(splits.path[roles != "train"])
        np.testing.assert_array_equal(drawn, stored[[first_view_of[k] for k in keys]])
        test_rows = np.flatnonzero(roles == "test")
        # a test image has views (it trains in other folds) but none of them is drawn here
        assert (aligned.row_view[test_rows] >= 0).all()
        for image in drawn.reshape(-1, 12 * 12 * 3):
            for row in test_rows:
                assert not any(
                    np.array_equal(image, v.ravel()) for v in stored[aligned.row_view[row]]
                )
    holdout = np.flatnonzero(splits.set.to_numpy() == "holdout")
    assert (aligned.row_view[holdout] == -1).all()
    with pytest.raises(PhoneViewsError, match="have no phone views"):
        aligned.for_training(np.concatenate([holdout[:1], np.flatnonzero(roles == "train")]))


def test_training_and_evaluation_seed_streams_differ(views_run):
    """No training view repeats an evaluation input's draw: the camera inputs the mobile
    stage (and the CV phone metrics) make with image_seed at every level differ from every
    stored view of the same image, and the streams' states differ."""
    root, _, args = views_run
    stored = np.load(args.views)
    table = pd.read_csv(table_path(args.views), keep_default_na=False)
    for index, key in enumerate(table.key[::3]):
        picture = np.asarray(Image.open(root / "data" / key).convert("RGB"))
        for severity, level in enumerate(LEVELS):
            rng = np.random.default_rng(image_seed(42, severity, key))
            evaluation = camera_input(picture, 12, CameraConditions(**level), rng)
            for view in stored[index]:
                assert not np.array_equal(view, evaluation), (key, severity)
    for key in table.key:
        for view in range(8):
            state = view_seed(42, key, view).generate_state(4).tolist()
            for severity in range(8):
                assert state != image_seed(42, severity, key).generate_state(4).tolist()
    # the same conditions through both streams give different frames
    level = CameraConditions(**LEVELS[3])
    picture = _picture(0)
    same_level = [
        camera_input(picture, 12, level, np.random.default_rng(seq))
        for seq in (image_seed(42, 3, "a/0.png"), view_seed(42, "a/0.png", 3))
    ]
    assert not np.array_equal(*same_level)


def test_the_generator_composes_with_a_table_1_key():
    """Training draws a view, then the generator's horizontal_flip applies to it."""
    from mobileclf.train.fit import _phone_dataset

    n, views, size = 6, 4, 8
    plain = np.zeros((n, size, size, 3), dtype=np.uint8)
    stack = np.zeros((n, views, size, size, 3), dtype=np.uint8)
    for i in range(n):
        for k in range(views):
            stack[i, k, :, : size // 2] = 10 * (i + 1) + k + 1  # left half marks the view
    spec = {"phone_views": {"plain_probability": 0.0}, "horizontal_flip": True}
    data = _phone_dataset(plain, stack, np.arange(n), 3, 5, spec)
    flipped = unflipped = 0
    for _ in range(4):  # epochs
        for images, labels in data:
            for image, label in zip(images.numpy(), labels.numpy(), strict=True):
                left, right = image[0, 0, 0], image[0, -1, 0]
                mark = max(left, right)
                assert mark in {10 * (label + 1) + k + 1 for k in range(views)}  # a view
                flipped += right > 0
                unflipped += left > 0
    assert flipped > 0 and unflipped > 0


def test_plain_probability_one_trains_on_plain_images_only():
    from mobileclf.train.fit import _phone_dataset

    plain = np.full((5, 4, 4, 3), 7, dtype=np.uint8)
    views = np.full((5, 3, 4, 4, 3), 200, dtype=np.uint8)
    spec = {"phone_views": {"plain_probability": 1.0}}
    data = _phone_dataset(plain, views, np.arange(5), 5, 1, spec)
    assert all((images.numpy() == 7).all() for images, _ in data)


def test_plain_epochs_warm_up_trains_on_plain_images_first_then_on_views():
    from mobileclf.train.fit import _phone_dataset

    plain = np.full((5, 4, 4, 3), 7, dtype=np.uint8)
    views = np.full((5, 3, 4, 4, 3), 200, dtype=np.uint8)
    spec = {"phone_views": {"plain_probability": 0.0, "plain_epochs": 2}}
    data = _phone_dataset(plain, views, np.arange(5), 2, 1, spec)
    epochs = [np.concatenate([images.numpy() for images, _ in data]) for _ in range(3)]
    assert (epochs[0] == 7).all() and (epochs[1] == 7).all()  # the warm-up: plain only
    assert (epochs[2] == 200).all()  # then plain_probability 0: views only


def test_draws_per_epoch_adds_drawn_copies_and_one_keeps_the_plain_pass_data():
    """m draws per image and epoch beside the plain copy: (m + 1) n images an epoch, each
    image once plain and m times drawn; m = 1 gives plain_pass's very batches; the plain
    warm-up counts m draws per image and epoch."""
    from mobileclf.train.fit import _phone_dataset

    n = 6
    plain = np.zeros((n, 4, 4, 3), dtype=np.uint8)
    plain[:, :, :, 0] = np.arange(1, n + 1)[:, None, None]
    views = np.zeros((n, 3, 4, 4, 3), dtype=np.uint8)
    views[:, :, :, :, 0] = 100 + np.arange(3)[None, :, None, None]  # view k is 100 + k
    base = {"plain_probability": 0.0, "plain_pass": True}

    def epochs(section, count=2):
        data = _phone_dataset(plain, views, np.arange(n), 4, 3, {"phone_views": section})
        out = []
        for _ in range(count):  # one pass per epoch: each pass reshuffles
            batches = [(x.numpy()[:, 0, 0, 0], y.numpy()) for x, y in data]
            out.append(tuple(np.concatenate(part) for part in zip(*batches, strict=True)))
        return data, out

    _, one = epochs({**base, "draws_per_epoch": 1})
    _, without = epochs(base)
    for (a, la), (b, lb) in zip(one, without, strict=True):
        assert np.array_equal(a, b) and np.array_equal(la, lb)
    data, three = epochs({**base, "draws_per_epoch": 3})
    assert int(data.cardinality()) == 6  # 4n = 24 images / batch 4
    for images, labels in three:
        drawn = images >= 100
        assert sorted(labels[~drawn]) == list(range(n))  # each plain image once
        assert sorted(labels[drawn]) == sorted(list(range(n)) * 3)  # each drawn 3 times
    assert len(set(three[0][0][three[0][0] >= 100])) > 1  # draws pick different views
    _, warm = epochs({**base, "draws_per_epoch": 2, "plain_epochs": 1}, count=2)
    assert (warm[0][0] < 100).all()  # warm-up epoch: all 3n copies plain
    assert (warm[1][0] >= 100).sum() == 2 * n  # then 2n drawn copies are views
    _, no_pass = epochs({"plain_probability": 0.0, "draws_per_epoch": 2}, count=1)
    assert len(no_pass[0][0]) == 2 * n and (no_pass[0][0] >= 100).all()


def test_plain_pass_shows_every_image_once_plain_and_once_drawn_per_epoch():
    """2n images per epoch: each image's plain image once, and once what the draw gives
    (plain_probability 0: a view), shuffled together, afresh each epoch."""
    from mobileclf.train.fit import _phone_dataset

    n = 6
    plain = np.zeros((n, 4, 4, 3), dtype=np.uint8)
    plain[:, :, :, 0] = np.arange(1, n + 1)[:, None, None]  # plain image i is i + 1
    views = np.full((n, 3, 4, 4, 3), 200, dtype=np.uint8)
    spec = {"phone_views": {"plain_probability": 0.0, "plain_pass": True}}
    data = _phone_dataset(plain, views, np.arange(n), 4, 1, spec)
    assert int(data.cardinality()) == 3  # 2n / batch 4: Keras' steps per call know it
    orders = []
    for _ in range(2):  # epochs
        batches = list(data)
        images = np.concatenate([x.numpy()[:, 0, 0, 0] for x, _ in batches])
        labels = np.concatenate([y.numpy() for _, y in batches])
        assert len(images) == 2 * n
        shown_plain = images != 200
        assert sorted(labels[shown_plain]) == list(range(n))  # each plain image once
        assert (images[shown_plain] == labels[shown_plain] + 1).all()  # with its label
        assert sorted(labels[~shown_plain]) == list(range(n))  # and each drawn once
        orders.append(labels.tolist())
    assert orders[0] != orders[1]  # reshuffled each epoch


def test_schema_defaults_are_the_library_defaults_and_rerun_contract():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["generators"]["bare"] = {"phone_views": {}}
    prepare_config(config, SCHEMA)
    filled = config["generators"]["bare"]["phone_views"]
    defaults = asdict(PhoneViewSettings())
    # joint_probability has no schema default: unset is the library's 0, and the rule
    # params of every existing phone generator stay what they were (no rerun)
    assert defaults.pop("joint_probability") == 0.0
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()} == filled

    class Wildcards:
        dataset, size, generator = "demo", "32", "phone"

    assert T.phone_views(config, Wildcards) == ["results/demo/phone_views/32/phone.npy"]
    Wildcards.generator = "g1"
    assert T.phone_views(config, Wildcards) == []
    # the final model reads only the chosen cell's views: another size or generator that
    # does not win changes none of train_final's inputs
    chosen = {"arch": "model1", "generator": "phone", "size": 48}
    assert T.final_phone_views(config, Wildcards, chosen) == [
        "results/demo/phone_views/48/phone.npy"
    ]
    assert T.final_phone_views(config, Wildcards, {**chosen, "generator": "g1"}) == []
    # plain_probability, plain_epochs, plain_pass: read by training only, never remake views
    Wildcards.generator = "phone"
    before = P.phone_views_options(config, Wildcards)
    config["generators"]["phone"]["phone_views"]["plain_probability"] = 0.9
    config["generators"]["phone"]["phone_views"]["plain_epochs"] = 3
    config["generators"]["phone"]["phone_views"]["plain_pass"] = True
    assert P.phone_views_options(config, Wildcards) == before
    config["generators"]["phone"]["phone_views"]["blur"] = 1.0
    assert P.phone_views_options(config, Wildcards) != before
    blurred = P.phone_views_options(config, Wildcards)
    config["generators"]["phone"]["phone_views"]["joint_probability"] = 0.5
    assert P.phone_views_options(config, Wildcards) != blurred


def test_reduction_block_trains_on_the_same_views_as_fit_and_evaluate():
    """A reduction cell of a phone_views generator trains on the views exactly as the CV
    job does (bit-identical weights), and not as the plain generator would."""
    import keras

    from mobileclf.reduce.block import BlockTrainer
    from mobileclf.train.architectures import with_reduction
    from mobileclf.train.fit import TrainSettings, fit_and_evaluate

    rng = np.random.default_rng(1)
    images = rng.integers(0, 255, (24, 10, 10, 3), dtype=np.uint8)
    y = np.arange(24) % 2
    roles = np.array((["train"] * 3 + ["test"]) * 6)
    views = PhoneViews(
        rng.integers(0, 255, (24, 2, 10, 10, 3), dtype=np.uint8),
        np.array([f"k{i}" for i in range(24)]),
        np.arange(24),
    )
    layers = [{"type": "conv", "filters": 4}, {"type": "flatten"}, {"type": "dense", "units": 4}]
    generator = {"rescale": 1 / 255, "phone_views": {"plain_probability": 0.3}}
    settings = TrainSettings.from_config({"epochs": 2, "batch_size": 6, "optimizer": "adam"})
    cell = (2, 3)
    trainer = BlockTrainer([(cell, with_reduction(layers, *cell))], 10, ["a", "b"])
    trainer.train_fold(images, y, roles, generator, settings, 5, views)
    packed = trainer.models()[0].get_weights()
    keras.utils.set_random_seed(5)
    single = fit_and_evaluate(
        images,
        y,
        roles,
        ["a", "b"],
        with_reduction(layers, *cell),
        generator,
        settings,
        5,
        phone_views=views,
    )
    for mine, theirs in zip(packed, single.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    keras.utils.set_random_seed(5)
    plain = fit_and_evaluate(
        images,
        y,
        roles,
        ["a", "b"],
        with_reduction(layers, *cell),
        {"rescale": 1 / 255},
        settings,
        5,
    )
    assert not all(
        np.array_equal(a, b) for a, b in zip(packed, plain.model.get_weights(), strict=True)
    )
    with pytest.raises(PhoneViewsError, match="no views file"):
        trainer.train_fold(images, y, roles, generator, settings, 5)
