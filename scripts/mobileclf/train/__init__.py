"""The training stages: ``train_cv`` / ``train_cv_folds`` (one cross-validation fold, or
all folds of a small size in one process; :mod:`.cv`) and ``train_final`` (the chosen
configuration on all non-holdout images, tested once on the holdout; :mod:`.final`).

Both train through :func:`.fit.fit_and_evaluate`, built from :mod:`.architectures`
(declarative layer specs), :mod:`.backbones` (keras.applications), :mod:`.augmentation`
(the generators), :mod:`.finetune` and :mod:`.schedules` (phases, learning rates, early
stopping), :mod:`.fast_optimizers`, :mod:`.fused_dense` (a custom op, built by ``make
install`` from ``kernels/``), :mod:`.towers` and :mod:`.step_timer` (speed and its measurement).

Nothing is imported here: these modules load TensorFlow when they train.
"""
