"""Learning-rate schedules and early stopping from the config's ``training:`` section.

The companion studies train with SGD (momentum) and a StepLR schedule (Gao et al. (2025)) or Adam
with cosine annealing and early stopping on the validation loss (Kilaru (2025)). The schedule
is a function of the epoch *within one training phase* (see :mod:`mobileclf.train.finetune`):
each phase starts at its own base learning rate and anneals or steps from there, as a
PyTorch scheduler created per phase would. The learning rate of every epoch is written to
``history.csv`` (``learning_rate`` column), so what ran can be checked afterwards.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

log = logging.getLogger(__name__)

SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class Schedule:
    """``training.schedule``: how the learning rate changes from epoch to epoch.

    ``cosine``: ``min_lr + (lr - min_lr) * (1 + cos(pi * e / E)) / 2`` for epoch ``e`` of
    ``E`` (PyTorch's CosineAnnealingLR with ``T_max = E``, ``eta_min = min_learning_rate``).
    ``step``: ``lr * gamma ** (e // step_size)`` (PyTorch's StepLR).
    """

    type: str = "constant"
    step_size: int = 10
    gamma: float = 0.1
    min_learning_rate: float = 0.0

    @classmethod
    def from_config(cls, section: dict | None) -> Schedule:
        section = dict(section or {})
        kind = section.get("type", "constant")
        if kind not in SCHEDULES:
            raise ValueError(f"training.schedule.type must be one of {SCHEDULES}, not {kind!r}")
        return cls(**section)

    def learning_rate(self, base: float, epoch: int, epochs: int) -> float:
        """Learning rate of ``epoch`` (0-based) in a phase of ``epochs`` starting at ``base``."""
        if self.type == "cosine":
            span = max(1, epochs)
            return (
                self.min_learning_rate
                + (base - self.min_learning_rate) * (1 + math.cos(math.pi * epoch / span)) / 2
            )
        if self.type == "step":
            return base * self.gamma ** (epoch // self.step_size)
        return base


def callbacks(
    schedule: Schedule,
    base_learning_rate: float,
    epochs: int,
    first_epoch: int,
    patience: int | None,
    monitor: str,
    has_validation: bool,
) -> list:
    """The callbacks of one phase: the schedule (always, so the history logs the learning
    rate) and early stopping with best-weights restore when a patience is set.

    ``first_epoch`` is the global index of the phase's first epoch (Keras' ``initial_epoch``);
    the schedule sees the epoch relative to the phase.
    """
    import keras

    def rate(epoch: int, _current: float) -> float:
        return float(schedule.learning_rate(base_learning_rate, epoch - first_epoch, epochs))

    result: list = [keras.callbacks.LearningRateScheduler(rate)]
    if patience:
        if has_validation:
            result.append(
                keras.callbacks.EarlyStopping(
                    monitor=monitor,
                    mode="max" if monitor.endswith("accuracy") else "min",
                    patience=patience,
                    restore_best_weights=True,
                )
            )
        else:
            log.warning(
                "training.early_stopping_patience is set but this fold has no validation "
                "images (split.val_fraction is 0): training runs all epochs"
            )
    return result
