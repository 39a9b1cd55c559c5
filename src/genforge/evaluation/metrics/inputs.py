"""The one argument every registered metric takes: everything an evaluation measured, built once.

Fields are grouped by input kind (``spec.INPUTS``); a kind is available when its fields are set,
and a metric whose kinds are not all available is skipped. Arrays are what an instrument already
produced (features, class probabilities, critic scores): metrics never see a model. The one
exception is ``images``, for CAS, which trains its own classifier on generated images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genforge.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from genforge.data.prepare import PreparedData


@dataclass(frozen=True)
class ImageInputs:
    """Images for a metric that trains on them (CAS): generated and real train images with labels."""

    fake: torch.Tensor          # (N_fake, C, H, W) uint8, generated
    fake_labels: torch.Tensor   # (N_fake,) the class each was asked for
    real: torch.Tensor          # (N_half, C, H, W) uint8, the real train subset of the generated size (floor)
    real_labels: torch.Tensor   # (N_half,)
    data: PreparedData          # its class names and the real test split a classifier is tested on


@dataclass(frozen=True)
class MetricInputs:
    # "features"
    real_features: np.ndarray                  # (N_real, d) reference split
    fake_features: np.ndarray                  # (N_fake, d) generated samples
    half_features: np.ndarray | None = None    # (N_half, d) a real train subset of the generated size, for floors
    # "train_features"
    train_features: np.ndarray | None = None   # (N_train, d) the whole train split
    # "probs"
    fake_probs: np.ndarray | None = None       # (N_fake, K) classifier p(y|x) of generated samples
    real_probs: np.ndarray | None = None       # (N_real, K) the same for the reference split, for floors
    # "labels"
    fake_labels: np.ndarray | None = None      # (N_fake,) the class each generated sample was asked for
    real_labels: np.ndarray | None = None      # (N_real,) the reference split's labels, for floors
    # "critic"
    critic_scores: tuple[np.ndarray, np.ndarray] | None = None  # (train members (N_m,), reference (N_real,))
    # "images"
    images: ImageInputs | None = None
    seed: int = 0                              # for metrics that draw subsets (KID, attack members)

    def available(self) -> set[str]:
        """The input kinds this object carries (see ``spec.INPUTS``)."""
        present = {"features": True, "train_features": self.train_features is not None,
                   "probs": self.fake_probs is not None, "labels": self.fake_labels is not None,
                   "critic": self.critic_scores is not None, "images": self.images is not None}
        return {kind for kind, ok in present.items() if ok}

    def require(self, field: str, metric: str):
        """The optional field ``field``, or an error telling the caller what to supply."""
        value = getattr(self, field)
        if value is None:
            raise ConfigError(f"metric '{metric}' needs {field}; pass it in MetricInputs or drop '{metric}'")
        return value
