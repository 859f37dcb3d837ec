"""TensorFlow process set-up shared by every job that trains or converts models.

Imported first by those entry points: thread pools must be set before TensorFlow runs
any op, and a job's seed must be fixed before any layer is built.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def configure(threads: int, seed: int, deterministic: bool = False) -> str:
    """Match TensorFlow's thread pools to Snakemake's ``threads``; seed Python, NumPy, TF.

    Returns the device used ("GPU" or "CPU"), which the job logs: a GPU is used when one
    is visible (memory growth on, so several jobs can share it), else the CPU.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
    tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    device = "GPU" if gpus else "CPU"
    log.info(
        "TensorFlow %s on %s (%s), %d thread(s), seed %d",
        tf.__version__,
        device,
        ", ".join(g.name for g in gpus) or "no GPU visible: CPU fallback",
        threads,
        seed,
    )
    return device
