"""What a registered model provides: named networks built for a dataset, and how it is trained."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from genforge.core.config import ModelConfig
from genforge.data.imageset import DataInfo


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelConfig, DataInfo], dict[str, nn.Module]]
    task: str  # the training task (TASKS registry) that knows how to train these networks
    conditional: bool  # needs class labels
    sample_net: str  # the network that generates (its EMA copy is used when present)
    # the network that scores how real an image looks, net(x) or net(x, y); the privacy audit's
    # membership attack uses it (None: the family has no such network)
    critic: str | None = None
