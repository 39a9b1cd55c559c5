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
    """NaN when either Gaussian is not finite (e.g. a sampler that diverged): callers rank NaN as the worst."""
    if not all(np.isfinite(a).all() for a in (mu1, sigma1, mu2, sigma2)):
        return float("nan")
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


def paired_frechet_draws(real: np.ndarray, fakes: dict[str, np.ndarray], resamples: int = 200,
                         seed: int = 0, resample_real: bool = True) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The Fréchet distance of each fake set to ``real``, and ``resamples`` paired bootstrap draws of them all.

    The fake sets are paired (row i of each comes from the same label and noise), so each draw resamples one
    set of real rows and one set of fake row indices and applies the latter to every fake set: differences and
    ratios between the sets then carry the spread of the pairing, not of independent draws.
    ``resample_real=False`` holds the real reference fixed: the spread is then that of the generated samples
    alone, the part that more samples shrink (the reference's part stays whatever N is).
    """
    n_fake = {len(v) for v in fakes.values()}
    assert len(n_fake) == 1, "paired fake sets must have the same number of rows"
    n_fake_rows = n_fake.pop()

    def distances(r, f_idx):
        return {k: frechet_distance(*r, *gaussian_stats(v[f_idx])) for k, v in fakes.items()}

    rng = np.random.default_rng(seed)
    full_real = gaussian_stats(real)  # fitted once: the point, and every draw when the reference is held fixed
    point = distances(full_real, np.arange(n_fake_rows))
    draws = [distances(gaussian_stats(real[rng.integers(0, len(real), len(real))]) if resample_real else full_real,
                       rng.integers(0, n_fake_rows, n_fake_rows)) for _ in range(resamples)]
    return point, draws
