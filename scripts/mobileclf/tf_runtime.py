"""TensorFlow process set-up shared by every job that trains or converts models.

Imported first by those entry points: thread pools must be set before TensorFlow runs
any op, and a job's seed must be fixed before any layer is built.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# TensorFlow's default CPU allocator hands large tensors back to the OS when freed, so
# every step maps (page-faults) fresh memory for each gradient and temporary as large as
# the biggest kernel: ~40% system time for model1 at 100 px. The BFC allocator keeps
# freed blocks for reuse within the process (read once, when TF creates its CPU device).
# Set the variable to 0 in the environment to compare (bench/epoch_time.py does). Where
# TensorFlow turns oneDNN on (its default on CPUs with AVX-512), oneDNN's allocator, also
# BFC-based, serves CPU tensors whatever this variable says.
ALLOCATOR_ENV = {"TF_CPU_ALLOCATOR_USE_BFC": "1"}


def configure(threads: int, seed: int, deterministic: bool = False) -> str:
    """Match TensorFlow's thread pools to Snakemake's ``threads``; seed Python, NumPy, TF.

    Returns the device used ("GPU" or "CPU"), which the job logs: a GPU is used when one
    is visible (memory growth on, so several jobs can share it), else the CPU; the log
    says whether that is a fallback or the job's GPUs were hidden on purpose (cli.run).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name, value in ALLOCATOR_ENV.items():
        os.environ.setdefault(name, value)
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:
        # Pools are fixed once TF has run an op; only a second caller in one process
        # (a test session, a notebook) gets here, and it keeps the first caller's pools.
        log.info("TensorFlow already initialised: keeping its thread pools")
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
        ", ".join(g.name for g in gpus)
        or (
            "GPUs hidden: the job was scheduled without one (training.gpu false)"
            if os.environ.get("CUDA_VISIBLE_DEVICES") == ""
            else "no GPU visible: CPU fallback"
        ),
        threads,
        seed,
    )
    return device


def set_precision(requested: bool, device: str) -> str:
    """Set Keras' global dtype policy for the models built next; returns its name.

    ``mixed_float16`` (float16 compute, float32 weights) only where it pays: GPUs run
    float16 matmuls and convolutions on tensor cores, while CPUs emulate float16 and get
    slower. The softmax stays float32 whatever the policy (architectures.build_model), so
    the probabilities and the loss keep full precision.
    """
    import keras

    policy = "mixed_float16" if requested and device == "GPU" else "float32"
    keras.mixed_precision.set_global_policy(policy)
    if requested and policy == "float32":
        log.info("training.mixed_precision: no GPU in this job, so it computes in float32")
    else:
        log.info("precision policy %s", policy)
    return policy
