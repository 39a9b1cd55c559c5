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
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between feature sets real (N, d) and fake (M, d); needs N, M > d for a full-rank fit."""
    assert real.ndim == fake.ndim == 2 and real.shape[1] == fake.shape[1], "feature shapes differ"
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def _warnings(inputs: MetricInputs) -> tuple[str, ...]:
    n_real, n_fake, dim = len(inputs.real_features), len(inputs.fake_features), inputs.real_features.shape[1]
    said = []
    if inputs.half_features is not None and len(inputs.half_features) < n_fake:
        said.append(f"the floor uses all {len(inputs.half_features)} train images, fewer than the {n_fake} generated: "
                    "it carries more small-N bias than the value")
    if min(n_real, n_fake) < 2 * dim:
        said.append(f"N = {min(n_real, n_fake)} is below 2x the feature dimension ({dim}): the covariance is "
                    "poorly estimated and FID is strongly biased upwards; compare only at equal N, with the floor")
    return tuple(said)


def _fid(inputs: MetricInputs) -> dict[str, Estimate]:
    real, fake = inputs.real_features, inputs.fake_features
    return {"fid": Estimate(fid(real, fake), fid, (real, fake), warnings=_warnings(inputs))}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    return {"fid": fid(inputs.require("half_features", "fid"), inputs.real_features)}


METRICS.register("fid")(MetricSpec(rows=("fid",), inputs=("features",), direction="lower", ci="bootstrap",
                                   compute=_fid, floor=Floor(_floor, "{n_half} real train images vs {split}")))
