"""The phone stages: the holdout images through the phone's input paths, every model
variant, one verdict.

``mobile_reference_inputs`` and ``mobile_camera_inputs`` (:mod:`.inputs`, emulation in
:mod:`.camera`), ``mobile_predict`` (:mod:`.predict`: one variant on every path),
``mobile_tables`` (:mod:`.tables`: mobile.csv, plots, and the verdict from
:mod:`.verdict`), ``mobile_latency`` (:mod:`.latency`: LiteRT speed and memory).

Nothing is imported here: prediction loads TensorFlow or LiteRT.
"""

# The version of the emulated pixels (mobileclf.mobile.camera and .sensor), in the params
# of every job that stores camera-path pixels (phone_inputs, phone_views,
# mobile_camera_inputs): a change to what the emulation renders reruns those jobs and
# what reads them, and nothing else. Bump it with any such change. 2: float32 arithmetic
# and table-drawn sensor noise (same distributions, other draws).
EMULATION_VERSION = 2
