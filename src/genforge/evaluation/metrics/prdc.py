"""Precision, recall, density and coverage on k-NN manifolds.

Each real point x_i owns a ball of radius r_i = distance to its k-th nearest real neighbour; the
union of balls estimates the real manifold (Kynkäänniemi et al. 2019, eq. 1–2). With real
X (N) and generated Y (M):

  precision = 1/M Σ_j 1[∃i: ‖Y_j − X_i‖ ≤ r_i]               fake samples that look real
  recall    = 1/N Σ_i 1[∃j: ‖X_i − Y_j‖ ≤ r'_j]              r'_j: k-NN radius among fakes
  density   = 1/(kM) Σ_j Σ_i 1[‖Y_j − X_i‖ ≤ r_i]           (Naeem et al. 2020, eq. 3)
  coverage  = 1/N Σ_i 1[min_j ‖X_i − Y_j‖ ≤ r_i]            (Naeem et al. 2020, eq. 4)

Precision/recall are fooled by outliers that inflate the balls; density/coverage were proposed
for that. Density can exceed 1 when fakes crowd into dense real regions.
"""
from __future__ import annotations

import numpy as np
import torch

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.neighbours import (
    BLOCK_ELEMENTS, as_tensor, distance_blocks, kth_neighbour_distance, nearest,
)
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec

COARSE = "k-NN manifolds from fewer than 1,000 samples are coarse"


def _balls_hit(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
               max_elements: int) -> torch.Tensor:
    """For each point, how many balls (centre, radius) contain it: (len(points),)."""
    return torch.cat([(d <= radii[None, :]).sum(dim=1) for d in distance_blocks(points, centres, max_elements)])


def prdc_per_sample(real: np.ndarray, fake: np.ndarray, k: int = 5,
                    max_elements: int = BLOCK_ELEMENTS) -> dict[str, np.ndarray]:
    """The per-sample terms whose means are the four metrics: precision/density per generated sample,
    recall/coverage per real sample (density's term already divided by k). Lets a CI resample one
    side without duplicating points in the other side's manifold."""
    x, y = as_tensor(real), as_tensor(fake)
    assert x.ndim == y.ndim == 2 and x.shape[1] == y.shape[1], "feature shapes differ"
    r_real = kth_neighbour_distance(x, k, max_elements)                 # (N,)
    r_fake = kth_neighbour_distance(y, k, max_elements)                 # (M,)
    real_balls_per_fake = _balls_hit(y, x, r_real, max_elements)        # (M,)
    fake_balls_per_real = _balls_hit(x, y, r_fake, max_elements)        # (N,)
    nearest_fake, _ = nearest(x, y, max_elements)                       # (N,)
    return {
        "precision": (real_balls_per_fake > 0).double().numpy(),
        "recall": (fake_balls_per_real > 0).double().numpy(),
        "density": (real_balls_per_fake.double() / k).numpy(),
        "coverage": (nearest_fake <= r_real).double().numpy(),
    }


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5,
         max_elements: int = BLOCK_ELEMENTS) -> dict[str, float]:
    return {key: float(v.mean()) for key, v in prdc_per_sample(real, fake, k, max_elements).items()}


def _prdc(inputs: MetricInputs) -> dict[str, Estimate]:
    """Each row's CI resamples its per-sample terms: the averaged side only, the other side's manifold fixed."""
    real, fake = inputs.real_features, inputs.fake_features
    coarse = (COARSE,) if min(len(real), len(fake)) < 1000 else ()
    note = {"ci": "bootstrap over the averaged side only (manifold fixed)"}
    return {key: Estimate(float(terms.mean()), np.mean, (terms,), provenance=note,
                          warnings=coarse if key in ("precision", "recall") else ())
            for key, terms in prdc_per_sample(real, fake).items()}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    """The reference manifold with real train images in the generated images' place."""
    return prdc(inputs.real_features, inputs.require("half_features", "prdc"))


METRICS.register("prdc")(MetricSpec(rows=("precision", "recall", "density", "coverage"), inputs=("features",),
                                    direction="higher", ci="bootstrap", compute=_prdc,
                                    floor=Floor(_floor, "{n_half} real train images vs {split}")))
