"""An exponential moving average of the detector's weights (``train.average_epochs``).

The run validates, selects and saves the averaged weights; the optimiser steps the raw ones and
point / weak pseudo windows are grown from the raw ones (an average reaching back over the first
epochs would grow them from a model that has barely trained). Issue #18: a point run's val
R1@0.5 swung 3-15 points between adjacent epochs, so which epoch best.ckpt kept was partly chance.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel


def decay_for(average_epochs: float, steps_per_epoch: int) -> float:
    """The per-step decay whose average reaches back about ``average_epochs`` epochs."""
    horizon = max(average_epochs * steps_per_epoch, 1.0)
    return 1.0 - 1.0 / horizon


def weight_average(
    model: torch.nn.Module, average_epochs: float, steps_per_epoch: int
) -> AveragedModel | None:
    """The moving average of ``model`` (None when ``average_epochs`` is 0). Its first steps use a
    lower decay, (1 + n) / (10 + n) after n updates, so the first epoch is not dominated by the
    initial weights."""
    if average_epochs <= 0:
        return None
    decay = decay_for(average_epochs, steps_per_epoch)

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        d = min(decay, (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(averaged, current, strict=True):
            a.lerp_(c.to(a.dtype), 1.0 - d)

    # buffers (none in MomentDetr today) are copied, not averaged
    return AveragedModel(model, multi_avg_fn=update, use_buffers=False)
