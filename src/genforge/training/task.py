"""The interface between the Trainer and a model family's training logic.

The Trainer knows no family: it asks the task for a batch, calls ``train_step`` and logs whatever
losses come back; it saves ``networks()`` (a network named "ema", when present, is what samples), ``optimizers()`` and ``generators()`` for an exact resume.
"""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from genforge.core.config import OptimizerSettings
from genforge.data.imageset import ImageSet
from genforge.data.transforms import to_unit


class Task(Protocol):
    """One family's training step and what the Trainer must save to resume it exactly."""

    conditional: bool

    def networks(self) -> dict[str, nn.Module]: ...  # every network saved in a checkpoint

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def generators(self) -> dict[str, torch.Generator]: ...  # every explicit RNG the step draws from

    def batch(self, data: ImageSet, idx: torch.Tensor) -> dict[str, torch.Tensor | None]: ...  # the items idx, on device

    def train_step(self, batch: dict[str, torch.Tensor | None], step: int) -> dict[str, torch.Tensor]: ...  # losses to log



def image_batch(data: ImageSet, idx: torch.Tensor, device: torch.device) -> dict[str, torch.Tensor | None]:
    """The usual batch of an image family: ``x`` in [-1, 1] and ``y`` (None when unlabelled), on ``device``."""
    return {"x": to_unit(data.x[idx]).to(device), "y": None if data.y is None else data.y[idx].to(device)}


def make_optimizer(params, settings: OptimizerSettings) -> torch.optim.Optimizer:
    """Adam with one network's `optim.<network>` settings (AdamW, decoupled decay, when weight_decay > 0)."""
    if settings.weight_decay > 0:
        return torch.optim.AdamW(params, lr=settings.lr, betas=tuple(settings.betas), weight_decay=settings.weight_decay)
    return torch.optim.Adam(params, lr=settings.lr, betas=tuple(settings.betas))
