"""The phone check in real headless Chromium (Debian's, driven by Playwright for Python):
the page built by the tiny run, served by our HTTPS server, fed a fake rear camera made
from the holdout sheet's cells (through the camera emulation's light, blur and tilt) and
the gallery file chooser. It must load the int8 variant with no request leaving the local
server, score the cells, agree with LiteRT on the very frames it saw, post its results,
and the next workflow run must show them in the report and the verdict."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import planned_jobs, run_snakemake
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CELL_SECONDS = 2  # each sheet cell in front of the camera this long (10 frames a second)
SCREENSHOT = os.environ.get("PHONE_CHECK_SCREENSHOT")  # docs/phone-check.png is made this way


def _require_browser():
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian chromium (apt-get install -y chromium; .ci/run does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -r requirements.txt)")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing {missing}")
        pytest.skip(f"missing {missing}")


def sheet_cell(image: np.ndarray, payload: str) -> np.ndarray:
    """A sheet cell as the camera sees it held upright: the image filling the 480 px
    square of the 480×640 portrait frame (nearest upscale, as the sheet draws it), its QR
    code on white paper below."""
    import segno

    from mobileclf.mobile.camera import FRAME_HEIGHT, FRAME_WIDTH, resize_nearest

    cell = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 255, dtype=np.uint8)
    top = (FRAME_HEIGHT - FRAME_WIDTH) // 2
    cell[top : top + FRAME_WIDTH] = resize_nearest(image, FRAME_WIDTH, FRAME_WIDTH)
    buffer = io.BytesIO()
    segno.make_qr(payload, error="m").save(buffer, kind="png", scale=3, border=1)
    code = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    left = (FRAME_WIDTH - code.shape[1]) // 2
    cell[top + FRAME_WIDTH + 1 : top + FRAME_WIDTH + 1 + code.shape[0], left:][
        :, : code.shape[1]
    ] = code
    return cell


def write_y4m(path: Path, frames: list[np.ndarray], repeat: int) -> None:
    """Frames as a 10 fps 4:2:0 Y4M (BT.601 video range), each shown ``repeat`` times."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            r, g, b = (frame[..., i].astype(np.float64) for i in range(3))
            y = 16 + (65.738 * r + 129.057 * g + 25.064 * b) / 256
            u = 128 + (-37.945 * r - 74.494 * g + 112.439 * b) / 256
            v = 128 + (112.439 * r - 94.154 * g - 18.285 * b) / 256
            planes = [y] + [c.reshape(height // 2, 2, width // 2, 2).mean((1, 3)) for c in (u, v)]
            data = b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)
            out.write((b"FRAME\n" + data) * repeat)


def camera_frames(page_dir: Path, config: dict) -> list[np.ndarray]:
    from mobileclf.data.images import load_rgb
    from mobileclf.mobile.camera import CameraConditions, camera_frame

    conditions = CameraConditions(rotation=2, light=0.1, blur=0.6, noise=2)
    frames = []
    for i, item in enumerate(config["holdout"]):
        rgb = load_rgb(page_dir / item["image"], 10**8, "reject").rgb
        cell = sheet_cell(rgb, config["qr_prefix"] + item["id"])
        frames.append(camera_frame(cell, conditions, np.random.default_rng(i)))
    return frames


def litert_predictions(config: dict, page_dir: Path, inputs: np.ndarray) -> pd.DataFrame:
    from mobileclf.mobile.predict import predict_tflite

    variant = config["variants"]["int8"]
    scores = predict_tflite(
        page_dir / variant["file"], inputs, variant["norm_mean"], variant["norm_std"]
    )
    labels = np.asarray(config["labels"])
    return pd.DataFrame({"prediction": labels[scores.argmax(1)], "confidence": scores.max(1)})


@pytest.fixture(scope="module")
def phone_run(finished_run, tmp_path_factory):
    """A copy of the finished tiny run (this module posts results into it and reruns it)."""
    _require_browser()
    source, config = finished_run
    workdir = tmp_path_factory.mktemp("phone_run") / "run"
    shutil.copytree(source, workdir, symlinks=True, copy_function=shutil.copy2)
    return workdir, config


@pytest.fixture(scope="module")
def browser_page(phone_run, tmp_path_factory):
    """Our server on the run's phone_check/ and one Chromium page on it, the fake camera
    playing the sheet's cells; yields (page, server, config, page_dir, browser_requests)."""
    from playwright.sync_api import sync_playwright

    from mobileclf.phone_check.server import make_server

    workdir, _ = phone_run
    phone_check = workdir / "results" / "tiny" / "phone_check"
    page_dir = phone_check / "page"
    config = json.loads((page_dir / "config.json").read_text())
    video = tmp_path_factory.mktemp("camera") / "sheet.y4m"
    write_y4m(video, camera_frames(page_dir, config), repeat=10 * CELL_SECONDS)
    server = make_server(phone_check, "127.0.0.1", 0, "session-token")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"https://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        page = browser.new_context(ignore_https_errors=True).new_page()
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(origin + "?token=session-token")
        page.wait_for_function("window.phoneCheck !== undefined")
        page.evaluate("window.phoneCheck.ready")
        yield page, server, config, page_dir, requests, origin
        browser.close()
    server.shutdown()


@pytest.mark.slow
def test_camera_mode_scores_the_sheet_like_litert(browser_page):
    from mobileclf.mobile.camera import template_preprocess, to_sensor
    from mobileclf.phone_check.geometry import camera_index_map

    page, server, config, _, requests, origin = browser_page
    geometry = config["geometry"]
    # the page's crop is camera.py's, index for index, on portrait, landscape and odd frames
    for height, width in ((640, 480), (480, 640), (721, 1283)):
        js = page.evaluate(
            f"Array.from(window.phoneCheck.cameraIndexMap({height}, {width}, "
            f"{geometry['size']}, {geometry['sensor_orientation']}))"
        )
        truth = camera_index_map(height, width, geometry["size"], geometry["sensor_orientation"])
        assert np.array_equal(np.asarray(js).reshape(truth.shape), truth)

    page.click("#camera-button")
    total = len(config["holdout"])
    wanted = int(np.ceil(0.95 * total))
    page.wait_for_function(
        f"window.phoneCheck.state.results.size >= {wanted}", timeout=(total + 2) * 3 * 1000
    )
    progress = re.match(
        rf"(\d+) of {total} scored, accuracy \d+% \(\d+/(\d+)\)", page.inner_text("#progress")
    )
    assert progress and int(progress[1]) >= wanted and progress[1] == progress[2]
    if SCREENSHOT:
        page.screenshot(path=SCREENSHOT, full_page=True)
    results = pd.DataFrame(page.evaluate("[...window.phoneCheck.state.results.values()]"))
    frames = page.evaluate("window.phoneCheck.state.frames")
    assert set(frames) == set(results.id)
    # the frames the page classified, cropped by camera.py and run in LiteRT
    crops = []
    for image_id in results.id:
        png = base64.b64decode(frames[image_id].split(",", 1)[1])
        frame = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        sensor = to_sensor(frame, geometry["sensor_orientation"])
        crops.append(template_preprocess(sensor, geometry["size"], geometry["sensor_orientation"]))
    litert = litert_predictions(config, Path(browser_page[3]), np.asarray(crops))
    agree = (litert.prediction.to_numpy() == results.prediction.to_numpy()).mean()
    assert agree >= 0.95, pd.concat([results, litert.add_prefix("litert_")], axis=1)
    print(
        f"camera: {len(results)} of {total} cells, agreement with LiteRT {agree:.0%}, "
        f"max |confidence difference| {np.abs(litert.confidence - results.confidence).max():.4f}"
    )
    assert page.evaluate("window.phoneCheck.send()") == 201
    # nothing left the local server: every request the page made went to it, and the
    # server served the int8 model
    assert requests and all(url.startswith(origin) for url in requests), requests
    assert "GET /models/model_int8.tflite 200" in server.handler.requests


@pytest.mark.slow
def test_gallery_mode_matches_the_gallery_emulation(browser_page, phone_run):
    page, _, config, page_dir, requests, origin = browser_page
    workdir, _ = phone_run
    gallery = np.load(workdir / "results" / "tiny" / "mobile" / "inputs" / "gallery.npy")
    files = [str(page_dir / item["image"]) for item in config["holdout"]]
    # the page's decode and resize give the gallery emulation's pixels exactly
    for i, item in enumerate(config["holdout"]):
        pixels = page.evaluate(
            """async ([url, size]) => {
                const blob = await (await fetch(url)).blob();
                const bitmap = await createImageBitmap(blob,
                    { colorSpaceConversion: "none", premultiplyAlpha: "none" });
                const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
                const ctx = canvas.getContext("2d");
                ctx.fillStyle = "#000"; ctx.fillRect(0, 0, bitmap.width, bitmap.height);
                ctx.drawImage(bitmap, 0, 0);
                const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
                return Array.from(window.phoneCheck.bilinearAndroid(
                    data, bitmap.width, bitmap.height, size).data);
            }""",
            [item["image"], config["geometry"]["size"]],
        )
        rgb = np.asarray(pixels, dtype=np.uint8).reshape(gallery.shape[1], gallery.shape[2], 4)
        assert np.array_equal(rgb[..., :3], gallery[i]), item["id"]
    with page.expect_file_chooser() as chooser:  # the Gallery button opens the chooser
        page.click("#gallery-button")
    chooser.value.set_files(files)
    page.wait_for_function(
        f"window.phoneCheck.state.mode == 'gallery' && "
        f"window.phoneCheck.state.results.size == {len(files)}"
    )
    results = pd.DataFrame(page.evaluate("[...window.phoneCheck.state.results.values()]"))
    litert = litert_predictions(config, page_dir, gallery)
    assert (litert.prediction.to_numpy() == results.prediction.to_numpy()).mean() >= 0.95
    difference = np.abs(litert.confidence.to_numpy() - results.confidence.to_numpy()).max()
    assert difference < 1e-6, (litert, results)
    assert page.evaluate("window.phoneCheck.send()") == 201
    assert all(url.startswith(origin) for url in requests)


@pytest.mark.slow
def test_next_run_puts_the_measured_runs_in_verdict_and_report(phone_run, browser_page):
    """Runs after the two tests above, which posted one camera and one gallery run."""
    workdir, config = phone_run
    results = workdir / "results" / "tiny"
    runs = [json.loads(p.read_text()) for p in (results / "phone_check" / "measured").glob("*")]
    modes = {run["mode"] for run in runs}
    assert {"camera", "gallery"} <= modes, "run the whole module: the tests above post the runs"
    # a new measured file reruns the table, the verdict's job and the report, nothing else
    jobs = {rule for rule, _ in planned_jobs(workdir, config)} - {"all"}
    assert jobs == {"phone_measured", "mobile_tables", "report"}, jobs
    run_snakemake(workdir, config)
    verdict = json.loads((results / "verdict.json").read_text())
    pooled = {}
    for run in runs:
        counts = pooled.setdefault((run["variant"], run["mode"]), [0, 0])
        counts[0] += sum(r["truth"] == r["prediction"] for r in run["results"])
        counts[1] += len(run["results"])
    assert {
        (m["variant"], m["mode"]): [m["n_correct"], m["n_images"]] for m in verdict["measured"]
    } == pooled
    assert "Measured on a phone" in verdict["summary"]
    for (variant, mode), (correct, n) in pooled.items():
        evidence = next(e for e in verdict["evidence"] if e["variant"] == variant)
        assert (evidence[f"{mode}_correct"], evidence[f"{mode}_n"]) == (correct, n)
    report = (results / "report.md").read_text()
    table = report.split("Measured on a phone (phone check)", 1)[1]
    for (variant, mode), (correct, n) in pooled.items():
        assert f"| {variant} | {mode} | {correct} | {n} | {correct / n:.1%} |" in table
