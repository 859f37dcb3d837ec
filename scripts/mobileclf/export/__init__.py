"""The export stages: the final Keras model as deployable TFLite files.

``convert`` (:mod:`.convert`: one file per variant), ``add_metadata`` (:mod:`.metadata`:
labels and normalisation for the phone apps, read back and checked), ``verify_export``
(:mod:`.verify`: every variant against Keras on the holdout) and ``model_card``
(:mod:`.model_card`: the deploy bundle's card and metadata.json).

Nothing is imported here: conversion loads TensorFlow.
"""
