"""How the page turns a camera frame or a gallery photo into the model input: the geometry
of :mod:`mobileclf.mobile.camera`, written once into the page's config.json.

camera.py is the one place that states it (centre crop of the shorter side in sensor
orientation, Skia nearest resize, ``Rot90Op``; Skia bilinear for the gallery); this module
only names those rules for the page's script (web/src/app.js implements the same
formulas) and gives the tests the truth to hold the page to: :func:`camera_index_map`
runs camera.py's own functions on a frame of pixel indices, so whatever camera.py does,
the map says which frame pixel lands in each model-input pixel.
"""

from __future__ import annotations

import numpy as np

from mobileclf.mobile import camera


def page_geometry(size: int, sensor_orientation: int) -> dict:
    """The geometry section of the page's config.json (app.js reads exactly these keys)."""
    return {
        "size": int(size),
        "frame_width": camera.FRAME_WIDTH,
        "frame_height": camera.FRAME_HEIGHT,
        "sensor_orientation": int(sensor_orientation),
        "camera": "sensor frame (upright frame turned clockwise by sensor_orientation); "
        "centre square of the shorter side, offset (long - short) // 2 "
        "(camera.crop_or_pad_center); nearest resize, source index floor((i + 0.5) * src / "
        "dst) (camera.nearest_indices); turned back counter-clockwise (camera.template_preprocess)",
        "gallery": "bilinear without antialiasing, two taps per axis at (i + 0.5) * src / dst "
        "- 0.5 clamped to the edges, rounded half to even (camera.resize_bilinear_android)",
    }


def camera_index_map(height: int, width: int, size: int, sensor_orientation: int) -> np.ndarray:
    """size×size flat indices (row * width + col) of the upright frame pixels that
    camera.template_preprocess(camera.to_sensor(frame)) puts into the model input."""
    index = np.arange(height * width, dtype=np.int64).reshape(height, width)
    frame = np.repeat(index[..., None], 3, axis=2)
    sensor = camera.to_sensor(frame, sensor_orientation)
    return camera.template_preprocess(sensor, size, sensor_orientation)[..., 0]
