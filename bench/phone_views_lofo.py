"""Leave-one-factor-out study of the phone-path generator (generator key ``phone_views``).

Does training on emulated phone inputs generalise, or does the model only fit its own
emulation? Each variant trains with ONE condition family switched off
(``phone_views.families``: blur, light (light/colour/contrast), compression (JPEG+YUV),
framing (fill/offset/tilt)) and is scored on camera inputs that use that family: the
config's camera levels 1-3 (all families at once) and a "factor-only" level per family
(only its conditions, at level-3 strength). The full generator and g1 (the paper's plain
generator) are scored alongside; a variant that loses accuracy where its family is on
shows the family is learnt, not memorised.

Everything runs through the project's own code: the workflow makes the arrays and folds
(ingest, split, resize), :func:`mobileclf.train.phone_views.make_views` the training views
(the phone_views rule's function, seed stream VIEW_DOMAIN), fit_and_evaluate trains, and
the scored inputs are made exactly as the mobile stage makes them (camera_input,
image_seed(seed, severity, key)). Scores are pooled over the CV test folds (every
non-holdout image once, a model that never trained on it): the holdout is not touched,
so nothing here tunes on it. Keras predictions (the float32 TFLite model matches them).

    python bench/phone_views_lofo.py --root ../shared/datasets/sarscov2-ct-mini \\
        --size 50 --folds 5 --epochs 15 --views 4 --workdir bench-lofo --json bench-lofo.json

``--only NAME ...`` runs some variants (views and scored inputs are cached in the workdir,
so variants can be run by separate invocations; start them one after the other: the
workflow's lock on the workdir refuses two at the same instant). ``--plain P ...`` adds the
full generator at other ``plain_probability`` values (tuning on CV, never on the holdout).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, data_config, load_average, prepare_arrays

sys.path.insert(0, str(REPO / "scripts"))

FAMILY_ONLY = {  # level-3 strength of config/config.yaml, one family at a time
    "framing": {"fill": 0.65, "offset": 0.08, "rotation": 10},
    "light": {"light": 0.35, "contrast": 0.2},
    "blur": {"blur": 2.5},
    "compression": {"yuv": True, "jpeg_quality": 60},
}
FAMILY_SEVERITY = 100  # image_seed severities 100.. for the factor-only levels


def variants(paper: dict, views: int, plain: list[float]) -> dict:
    """g1, the full phone generator, the phone generator without each family, and the full
    one at other plain_probability values ("phone p=0.6": same views, a CV tuning knob)."""
    phone = copy.deepcopy(paper["generators"]["phone"])
    phone["phone_views"]["views"] = views
    out = {"g1": paper["generators"]["g1"], "phone": phone}
    for family in FAMILY_ONLY:
        spec = copy.deepcopy(phone)
        spec["phone_views"]["families"] = {family: False}
        out[f"phone -{family}"] = spec
    for probability in plain:
        spec = copy.deepcopy(phone)
        spec["phone_views"]["plain_probability"] = probability
        out[f"phone p={probability}"] = spec
    return out


def filled(spec: dict) -> dict:
    """The generator as the workflow default-fills it (the schema's defaults)."""
    from mobileclf.workflow.config import fill_defaults, load_schema

    config = data_config(".", [50], 2)
    config["generators"] = {"x": copy.deepcopy(spec)}
    fill_defaults(config, load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config["generators"]["x"]


def decoded(root: Path, paths: list[str]) -> list[np.ndarray]:
    from mobileclf.data.images import load_rgb

    return [load_rgb(root / path).rgb for path in paths]


def views_for(spec: dict, pictures, keys, size: int, seed: int, cache: Path):
    """The phone_views rule's output for one generator, cached in ``cache``."""
    from mobileclf.train.phone_views import PhoneViewSettings, make_views

    if cache.exists():
        return np.load(cache)
    settings = PhoneViewSettings.from_config(spec["phone_views"])
    out = np.stack(
        [
            make_views(rgb, size, settings, seed, key)[0]
            for rgb, key in zip(pictures, keys, strict=True)
        ]
    )
    np.save(cache, out)
    return out


def scored_inputs(pictures, keys, size: int, seed: int, levels: list[dict], cache: Path) -> dict:
    """Evaluation inputs as the mobile stage makes them (image_seed stream), cached."""
    from mobileclf.mobile.camera import CameraConditions, camera_input, image_seed

    if cache.exists():
        with np.load(cache) as stored:
            return dict(stored)
    sets = {}
    named = [(f"camera s{i}", i, level) for i, level in enumerate(levels)]
    named += [
        (f"{family} only", FAMILY_SEVERITY + i, level)
        for i, (family, level) in enumerate(FAMILY_ONLY.items())
    ]
    for name, severity, level in named:
        conditions = CameraConditions(**level)
        sets[name] = np.stack(
            [
                camera_input(
                    rgb, size, conditions, np.random.default_rng(image_seed(seed, severity, key))
                )
                for rgb, key in zip(pictures, keys, strict=True)
            ]
        )
    np.savez(cache, **sets)
    return sets


def run_variant(name, spec, data, views, rows, inputs, args) -> dict:
    """Train every fold with ``spec``; pooled accuracy of each input set on the test folds."""
    import keras

    from mobileclf.train.fit import TrainSettings, fit_and_evaluate
    from mobileclf.train.phone_views import PhoneViews

    settings = TrainSettings(
        epochs=args.epochs, batch_size=10, optimizer="adam", learning_rate=0.001
    )
    aligned = None
    if views is not None:
        row_view = np.full(len(data.y), -1)
        row_view[rows] = np.arange(len(rows))
        aligned = PhoneViews(views, data.splits.path.to_numpy()[rows], row_view)
    position = {row: i for i, row in enumerate(rows)}
    correct = {key: [] for key in ["computer", *inputs]}
    started = time.perf_counter()
    for fold in range(args.folds):
        roles = data.splits[f"fold{fold}"].to_numpy()
        seed = args.seed + fold
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        result = fit_and_evaluate(
            data.images,
            data.y,
            roles,
            data.labels,
            args.layers,
            spec,
            settings,
            seed,
            phone_views=aligned,
        )
        test = np.flatnonzero(roles == "test")
        at = [position[row] for row in test]
        batches = {"computer": np.asarray(data.images[test])}
        batches.update({key: batch[at] for key, batch in inputs.items()})
        for key, batch in batches.items():
            predicted = result.model.predict(batch.astype(np.float32), verbose=0).argmax(1)
            correct[key].append(predicted == data.y[test])
    accuracy = {
        key: {
            "accuracy": float(np.concatenate(hits).mean()),
            "fold_std": float(np.std([h.mean() for h in hits])),
            "n": int(sum(len(h) for h in hits)),
        }
        for key, hits in correct.items()
    }
    print(f"  {name}: {time.perf_counter() - started:.0f} s", flush=True)
    return accuracy


def table(results: dict) -> str:
    columns = list(next(iter(results.values())))
    lines = ["| generator | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    full = results.get("phone")
    for name, row in results.items():
        cells = []
        for column in columns:
            value = 100 * row[column]["accuracy"]
            drop = (
                ""
                if full is None or name == "phone"
                else f" ({value - 100 * full[column]['accuracy']:+.1f})"
            )
            cells.append(f"{value:.1f}{drop}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--root", required=True, help="image folder (read in place)")
    arguments.add_argument("--size", type=int, default=50)
    arguments.add_argument("--folds", type=int, default=5)
    arguments.add_argument("--epochs", type=int, default=15)
    arguments.add_argument("--seed", type=int, default=42)
    arguments.add_argument(
        "--views", type=int, default=4, help="K per variant (the config's default is 8)"
    )
    arguments.add_argument(
        "--plain", type=float, nargs="*", default=[], help="extra plain_probability values"
    )
    arguments.add_argument("--only", nargs="*", help="run these variants only (by name)")
    arguments.add_argument(
        "--layers",
        type=yaml.safe_load,
        help="architecture layers as YAML (default: model1 of config/paper.yaml), e.g. "
        "'[{type: conv, filters: 32}, {type: maxpool}, {type: gap}, {type: dense, units: 128}]'",
    )
    arguments.add_argument("--workdir", default="bench-lofo")
    arguments.add_argument("--json", help="write the figures here")
    args = arguments.parse_args()
    from mobileclf.data.datasets import load

    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    args.arch = "model1" if args.layers is None else "layers " + json.dumps(args.layers)
    args.layers = args.layers or paper["architectures"]["model1"]["layers"]
    levels = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["mobile"][
        "camera_levels"
    ]
    workdir = Path(args.workdir).resolve()
    results_dir = prepare_arrays(args.root, [args.size], args.folds, workdir)
    data = load(
        results_dir / "arrays" / f"{args.size}.npy",
        results_dir / "splits.csv",
        results_dir / "labels.txt",
    )
    rows = np.flatnonzero(data.splits["set"].to_numpy() != "holdout")  # never the holdout
    keys = data.splits.path.iloc[rows].tolist()
    pictures = decoded(Path(args.root), keys)
    started = time.perf_counter()
    inputs = scored_inputs(
        pictures, keys, args.size, args.seed, levels, workdir / f"scored_{args.size}.npz"
    )
    print(f"scored inputs: {time.perf_counter() - started:.0f} s; {load_average()}", flush=True)
    results = {}
    chosen = variants(paper, args.views, args.plain)
    for name, raw_spec in chosen.items():
        if args.only and name not in args.only:
            continue
        spec = filled(raw_spec)
        views = None
        if "phone_views" in spec:
            started = time.perf_counter()
            views_of = name.split(" p=")[0].replace(" ", "")  # p= variants share the views
            cache = workdir / f"views_{args.size}_{args.views}_{views_of}.npy"
            views = views_for(spec, pictures, keys, args.size, args.seed, cache)
            print(f"  views {name}: {time.perf_counter() - started:.0f} s", flush=True)
        results[name] = run_variant(name, spec, data, views, rows, inputs, args)
        print(json.dumps({name: results[name]}), flush=True)  # partial figures as they come
    print(
        f"\n{args.root}, {args.size} px, {args.folds} folds, {args.epochs} epochs, {args.arch}, "
        f"Adam, {args.views} views per image; accuracy % pooled over the CV test folds "
        f"({next(iter(results.values()))['computer']['n']} images), (difference to the full phone "
        f"generator); {load_average()}, {os.cpu_count()} CPUs\n"
    )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
