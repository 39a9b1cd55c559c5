"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017).

FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}); computed in float64 with SciPy's sqrtm.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(features, dtype=np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    diff = mu1 - mu2
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular products are handled below
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise (as in the reference code)
        offset = np.eye(sigma1.shape[0]) * eps
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
