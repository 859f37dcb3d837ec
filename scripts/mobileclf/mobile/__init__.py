"""The phone stages: the holdout images through the phone's input paths, every model
variant, one verdict.

``mobile_reference_inputs`` and ``mobile_camera_inputs`` (:mod:`.inputs`, emulation in
:mod:`.camera`), ``mobile_predict`` (:mod:`.predict`: one variant on every path),
``mobile_tables`` (:mod:`.tables`: mobile.csv, plots, and the verdict from
:mod:`.verdict`), ``mobile_latency`` (:mod:`.latency`: LiteRT speed and memory).

Nothing is imported here: prediction loads TensorFlow or LiteRT.
"""
