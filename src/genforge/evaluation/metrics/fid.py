"""Fréchet Inception Distance on feature arrays (Heusel et al. 2017).

FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2}); the Gaussian fit and the distance are
``genforge.evaluation.frechet`` (shared with checkpoint selection, so both agree by construction).
FID is biased upward at small N (the bias shrinks roughly as 1/N; Chong & Forsyth 2020), so
compare values only at equal N and report the real-vs-real floor next to it.
"""
from __future__ import annotations

import numpy as np

from genforge.core.registry import METRICS
from genforge.evaluation.frechet import frechet_distance, gaussian_stats
from genforge.evaluation.metrics.inputs import MetricInputs


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between feature sets real (N, d) and fake (M, d); needs N, M > d for a full-rank fit."""
    assert real.ndim == fake.ndim == 2 and real.shape[1] == fake.shape[1], "feature shapes differ"
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


@METRICS.register("fid")
def fid_metric(inputs: MetricInputs) -> dict[str, float]:
    return {"fid": fid(inputs.real_features, inputs.fake_features)}
