"""TensorFlow process set-up shared by every job that trains or converts models.

Imported first by those entry points: thread pools must be set before TensorFlow runs
any op, and a job's seed must be fixed before any layer is built.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def configure(threads: int, seed: int, deterministic: bool = False, gpus: int = 1) -> str:
    """Match TensorFlow's thread pools to Snakemake's ``threads``; seed Python, NumPy, TF.

    Returns the device used ("GPU" or "CPU"), which the job logs: a GPU is used when one
    is visible (memory growth on, so several jobs can share it), else the CPU (a warning
    when a GPU was asked for). ``gpus=0`` (the job's ``gpu`` resource when `training.gpu`
    is false) hides every GPU, so jobs that were not scheduled on a GPU never crowd it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    visible = tf.config.list_physical_devices("GPU")
    if gpus <= 0 and visible:
        tf.config.set_visible_devices([], "GPU")
        log.info("training.gpu is false: %d GPU(s) hidden from this job", len(visible))
    devices = visible if gpus > 0 else []
    for gpu in devices:
        tf.config.experimental.set_memory_growth(gpu, True)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    device = "GPU" if devices else "CPU"
    if gpus > 0 and not devices:
        log.warning("a GPU was asked for but none is visible: CPU fallback")
    log.info(
        "TensorFlow %s on %s (%s), %d thread(s), seed %d",
        tf.__version__,
        device,
        ", ".join(g.name for g in devices) or "CPU only",
        threads,
        seed,
    )
    return device
