"""Print the cost of the phone emulation per image: gallery path and camera path per level.

Run: .venv/bin/python bench/bench_camera.py [config.yaml]. The camera path dominates the
emulation time (multiply by the images of a phone_inputs or mobile_camera_inputs job).
``camera_input`` renders only the window of the 480×640 frame the template reads;
``camera_view`` renders the whole frame (contact sheet), shown for comparison: the two give
the same model input.
"""

import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from mobileclf.mobile.camera import (
    CameraConditions,
    camera_input,
    camera_view,
    gallery_input,
    image_seed,
)


def main() -> None:
    config_path = Path(sys.argv[1] if len(sys.argv) > 1 else "config/config.yaml")
    levels = yaml.safe_load(config_path.read_text()).get("mobile", {}).get("camera_levels", [{}])
    image = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    repeats = 20
    started = time.perf_counter()
    for _ in range(repeats):
        gallery_input(image, 64)
    print(
        f"gallery 512 px -> 64 px: {(time.perf_counter() - started) / repeats * 1000:.1f} ms/image"
    )
    for severity, level in enumerate(levels):
        conditions = CameraConditions.from_config(level)
        timings = []
        for render in (camera_input, camera_view):
            started = time.perf_counter()
            for i in range(repeats):
                rng = np.random.default_rng(image_seed(0, severity, str(i)))
                render(image, 64, conditions, rng)
            timings.append((time.perf_counter() - started) / repeats * 1000)
        print(
            f"camera severity {severity}: {timings[0]:.1f} ms/image "
            f"(whole frame: {timings[1]:.1f} ms)"
        )


if __name__ == "__main__":
    main()
