"""The one argument every registered metric takes, and the shape of what it returns.

A registered metric is ``fn(inputs: MetricInputs) -> dict[str, float]``: flat, JSON-ready
numbers keyed by name (e.g. ``{"kid_mean": ..., "kid_std": ...}``). Arrays are features that an
extractor already produced; metrics never see images or models.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genforge.core.errors import ConfigError


@dataclass(frozen=True)
class MetricInputs:
    real_features: np.ndarray                  # (N_real, d) reference split
    fake_features: np.ndarray                  # (N_fake, d) generated samples
    train_features: np.ndarray | None = None   # (N_train, d) train split, for memorisation
    fake_probs: np.ndarray | None = None       # (N_fake, K) classifier p(y|x) of generated samples
    fake_labels: np.ndarray | None = None      # (N_fake,) the class each generated sample was asked for
    seed: int = 0                              # for metrics that subsample (KID)

    def require(self, field: str, metric: str) -> np.ndarray:
        """The optional array ``field``, or an error telling the caller what to supply."""
        value = getattr(self, field)
        if value is None:
            raise ConfigError(f"metric '{metric}' needs {field}; pass it in MetricInputs or drop '{metric}'")
        return value


MetricFn = Callable[[MetricInputs], dict[str, float]]
