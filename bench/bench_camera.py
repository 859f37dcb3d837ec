"""Print the cost of the phone emulation per image: gallery path and camera path per level.

Run: .venv/bin/python bench/bench_camera.py [config.yaml]. The camera path renders a
480×640 frame per image (blur, noise, YUV, JPEG), so it dominates the mobile stage's
emulation time; multiply by the holdout size for one severity job.
"""

import sys
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from mobileclf.mobile.camera import CameraConditions, camera_input, gallery_input, image_seed


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
        started = time.perf_counter()
        for i in range(repeats):
            rng = np.random.default_rng(image_seed(0, severity, str(i)))
            camera_input(image, 64, conditions, rng)
        per_image = (time.perf_counter() - started) / repeats * 1000
        print(f"camera severity {severity}: {per_image:.1f} ms/image")


if __name__ == "__main__":
    main()
