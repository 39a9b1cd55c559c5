"""The interface between the Trainer and a model family's training logic."""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn


class Task(Protocol):
    """One family's training step and what the Trainer must save to resume it exactly."""

    conditional: bool

    def networks(self) -> dict[str, nn.Module]: ...  # every network saved in a checkpoint

    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def generators(self) -> dict[str, torch.Generator]: ...  # every explicit RNG the step draws from

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, step: int) -> dict[str, torch.Tensor]: ...

    def sample(self, n: int, labels: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor: ...
