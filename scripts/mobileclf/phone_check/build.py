"""The phone_check stage: the static page that runs the deployed bundle on a phone.

Everything the page needs is copied into ``results/{dataset}/phone_check/page/`` so the
folder works with no internet: the deployed variants and labels, the MediaPipe Tasks web
runtime and jsQR (vendored from web/node_modules, which ``make install`` fills from
web/package-lock.json; never fetched at run time), our one script (web/src/app.js) and
config.json (labels, variants and their input normalisation, the holdout ids with their
classes, the geometry of :mod:`mobileclf.phone_check.geometry`). The holdout sheet
(sheet.html) shows each holdout image with a QR code of its id only, so the person
holding the phone is not cued by the class.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pandas as pd

from mobileclf import atomic
from mobileclf.errors import UserError
from mobileclf.phone_check.geometry import page_geometry

QR_PREFIX = "mobileclf:"  # the sheet's codes read "mobileclf:H03"; other QR codes are ignored
STABLE_FRAMES = 5  # same code and label on this many frames in a row before a result counts
# the runtime files the page loads: the ES module and both WebAssembly builds (the no-SIMD
# one for browsers without WebAssembly SIMD; the loader picks)
_WASM = "@mediapipe/tasks-vision/wasm/"
VENDOR_FILES = {
    "@mediapipe/tasks-vision/vision_bundle.mjs": "tasks-vision/vision_bundle.mjs",
    **{
        f"{_WASM}{name}": f"tasks-vision/wasm/{name}"
        for build in ("vision_wasm_internal", "vision_wasm_nosimd_internal")
        for name in (f"{build}.js", f"{build}.wasm")
    },
    "jsqr/dist/jsQR.js": "jsqr/jsQR.js",
}


class PhoneCheckError(UserError):
    """The page cannot be built (a missing runtime file)."""


def holdout_ids(holdout: pd.DataFrame) -> list[str]:
    """Sheet ids in holdout.csv order: H01, H02, ... (as wide as the count needs)."""
    width = max(2, len(str(len(holdout))))
    return [f"H{i + 1:0{width}d}" for i in range(len(holdout))]


def copy_vendor(node_modules: Path, vendor: Path) -> None:
    for source, target in VENDOR_FILES.items():
        path = node_modules / source
        if not path.is_file():
            raise PhoneCheckError(
                f"{path} is missing: the page's runtime is installed by `make install` "
                "(npm ci in web/, from web/package-lock.json); run it, then rerun"
            )
        (vendor / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, vendor / target)


def write_images(args, paths, ids: list[str], staging: Path) -> list[str]:
    """Each holdout image as an 8-bit RGB PNG of what :func:`mobileclf.data.images.load_rgb`
    decodes, the pixels the gallery emulation starts from. Not the stored bytes: a browser
    (and a phone's gallery) decodes a 16-bit PNG by keeping its high byte, where load_rgb
    stretches min..max to 0..255 (the demo's 12-bit CT slices come out nearly black), and
    it would show that on the sheet too; lossless PNG makes page and emulation agree to
    the pixel (tests/workflow/test_phone_check_browser.py)."""
    from PIL import Image

    from mobileclf.data.images import load_rgb

    options, names = args.options, []
    for image_id, path in zip(ids, paths, strict=True):
        rgb = load_rgb(Path(args.root) / path, options["max_pixels"], options["oversize"]).rgb
        names.append(f"images/{image_id}.png")
        Image.fromarray(rgb).save(staging / names[-1], optimize=True)
    return names


def page_config(args, holdout: pd.DataFrame, ids: list[str], images: list[str]) -> dict:
    # each variant's metadata as read back from its file (export/metadata_<variant>.json)
    read_backs = [json.loads(Path(path).read_text()) for path in args.read_back]
    inputs = {data["variant"]: data["input"] for data in read_backs}
    labels = Path(args.labels).read_text().split()
    spec = json.loads(Path(args.spec).read_text())
    variants = {}
    for model in args.models:
        variant = Path(model).stem.removeprefix("model_")
        entry = inputs[variant]
        variants[variant] = {
            "file": f"models/{Path(model).name}",
            "norm_mean": entry["norm_mean"],
            "norm_std": entry["norm_std"],
        }
    options = args.options
    return {
        "dataset": args.dataset,
        "labels": labels,
        "variants": variants,
        "default_variant": "int8" if "int8" in variants else sorted(variants)[0],
        "geometry": page_geometry(spec["size"], options["sensor_orientation"]),
        "segmentation": bool(options["segmentation"]),
        "qr_prefix": QR_PREFIX,
        "stable_frames": STABLE_FRAMES,
        "holdout": [
            {"id": i, "truth": label, "image": image}
            for i, label, image in zip(ids, holdout.label, images, strict=True)
        ],
    }


def sheet_html(config: dict, title: str) -> str:
    """A printable grid: each holdout image with a QR code of its id (no class shown)."""
    import segno

    cells = []
    for item in config["holdout"]:
        code = segno.make_qr(config["qr_prefix"] + item["id"], error="m")
        svg = code.svg_inline(scale=4, border=2)
        cells.append(
            f'<figure class="cell"><img src="{html.escape(item["image"])}" alt="{item["id"]}">'
            f"<figcaption>{svg}<span>{item['id']}</span></figcaption></figure>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:1em}"
        ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(7cm,1fr));gap:1em}"
        ".cell{margin:0;break-inside:avoid;text-align:center}"
        ".cell img{width:6cm;height:6cm;object-fit:contain;image-rendering:pixelated;"
        "background:#000}"
        "figcaption{display:flex;align-items:center;justify-content:center;gap:.5em}"
        "@media print{h1,p{display:none}}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Point the phone at one image at a time, the image "
        "filling the square, its code visible below it. The codes name images, not classes."
        f"</p><div class='grid'>{''.join(cells)}</div></body></html>\n"
    )


def phone_check(args) -> None:
    """``args`` are scripts/phone_check.py's flags."""
    out = Path(args.page)
    if out.exists():
        shutil.rmtree(out)
    staging = out.with_name(out.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "models").mkdir(parents=True)
    (staging / "images").mkdir()
    copy_vendor(Path(args.node_modules), staging / "vendor")
    holdout = pd.read_csv(args.holdout, keep_default_na=False)
    ids = holdout_ids(holdout)
    images = write_images(args, holdout.path, ids, staging)
    for model in args.models:
        shutil.copy2(model, staging / "models" / Path(model).name)
    shutil.copy2(args.labels, staging / "models" / "labels.txt")
    for source in args.sources:
        shutil.copy2(source, staging / Path(source).name)
    config = page_config(args, holdout, ids, images)
    atomic.write_json(staging / "config.json", config)
    atomic.write_text(staging / "sheet.html", sheet_html(config, f"{args.dataset}: holdout sheet"))
    staging.rename(out)
