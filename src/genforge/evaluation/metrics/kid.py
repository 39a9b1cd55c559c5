"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4).

KID is the unbiased estimate of the squared MMD (Gretton et al. 2012, eq. 3) with the cubic
polynomial kernel k(x, y) = (x·y / d + 1)³. Unlike FID it is unbiased, so small-N values are
comparable; its spread is reported as mean ± std over random subsets (population std, as in
the reference implementations).

As evaluated: subsets of size min(1,000, N_real, N_gen), 100 of them for the value (std in the
provenance); the bootstrap CI and the floor use 10 subsets per evaluation, to stay affordable.
"""
from __future__ import annotations

import numpy as np

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # k(x, y) = (xᵀy / d + 1)³                      (Bińkowski et al. 2018, §4)
    return (x @ y.T / x.shape[1] + 1.0) ** 3        # (m, n)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """MMD²_u between samples x (m, d) and y (n, d); may be slightly negative when p = q."""
    m, n = len(x), len(y)
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    # MMD²_u = Σ_{i≠j} k(x_i,x_j)/(m(m−1)) + Σ_{i≠j} k(y_i,y_j)/(n(n−1)) − 2 Σ_{i,j} k(x_i,y_j)/(mn)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * k_xy.sum() / (m * n))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) of MMD²_u over random subsets drawn without replacement from each set.

    When ``subset_size`` covers both sets, the full sets are used once (std = 0): extra subsets
    would all be the same set.
    """
    x = np.asarray(real, dtype=np.float64)
    y = np.asarray(fake, dtype=np.float64)
    assert x.ndim == y.ndim == 2 and x.shape[1] == y.shape[1], "feature shapes differ"
    if subset_size >= max(len(x), len(y)):
        return mmd2_unbiased(x, y), 0.0
    size = min(subset_size, len(x), len(y))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)],
                            y[rng.choice(len(y), size, replace=False)]) for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def _subset_size(inputs: MetricInputs) -> int:
    return min(1000, len(inputs.real_features), len(inputs.fake_features))


def _cheap_kid(size: int, seed: int):
    """KID mean over 10 subsets: the statistic the bootstrap and the floor recompute."""
    return lambda a, b: kid(a, b, subsets=10, subset_size=min(size, len(a), len(b)), seed=seed)[0]


def _kid(inputs: MetricInputs) -> dict[str, Estimate]:
    real, fake, size = inputs.real_features, inputs.fake_features, _subset_size(inputs)
    mean, std = kid(real, fake, subsets=100, subset_size=size, seed=inputs.seed)
    warn = ("fewer than 1,000 samples per side: KID is unbiased but its spread is large (see CI)",)
    return {"kid_mean": Estimate(mean, _cheap_kid(size, inputs.seed), (real, fake),
                                 provenance={"kid_std": std, "subset_size": size},
                                 warnings=warn if min(len(real), len(fake)) < 1000 else ())}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    statistic = _cheap_kid(_subset_size(inputs), inputs.seed)
    return {"kid_mean": statistic(inputs.require("half_features", "kid"), inputs.real_features)}


METRICS.register("kid")(MetricSpec(rows=("kid_mean",), inputs=("features",), direction="lower", ci="bootstrap",
                                   compute=_kid, floor=Floor(_floor, "{n_half} real train images vs {split}"), ci_cost=5))
