"""A model family's declaration: everything above the building blocks talks to this, never to a family.

The Trainer, ``api.load``/``sample``, evaluation and the privacy audit read a family only through its
``ModelSpec`` (DESIGN §2a): which networks it builds, which one generates and how it is sampled,
which task trains it, which cheap metric selects its checkpoints, and which network (if any) scores
realness for the membership attack.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from genforge.core.config import ModelConfig
from genforge.data.imageset import DataInfo

# (network, n, labels or None, generator) -> n images in [-1, 1], (n, C, H, W); pure, seeded only by generator
Sampler = Callable[[nn.Module, int, "torch.Tensor | None", torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelConfig, DataInfo], dict[str, nn.Module]]  # every network, by name
    task: str  # the training task (TASKS registry) that trains these networks; train.task="auto" uses it
    conditional: bool  # needs class labels
    sample_net: str  # the network that generates (its EMA copy, saved as "ema", is used when present)
    sample: Sampler  # how the generating network is sampled
    # the default selection metric (SELECTION_METRICS; each declares its direction); train.selection_metric="auto"
    selection_metric: str
    # the network that scores how real an image looks, net(x) or net(x, y); the privacy audit's
    # membership attack uses it (None: the family has no such network)
    critic: str | None = None
