"""Confidence intervals: the percentile bootstrap (Efron & Tibshirani 1993, §13.3) and Wilson's
score interval for a proportion (Wilson 1927).

Bootstrap: each sample (e.g. real and fake features) is resampled with replacement independently,
the statistic is recomputed B times, and the (α/2, 1 − α/2) quantiles of those values bound the
interval. It measures sampling spread at this N, not bias: resampled sets contain duplicates
(≈ 63% distinct), which raise small-N bias of FID and k-NN metrics, so for those the interval can
sit above the point estimate when N is small. Compare intervals at equal N only.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

PairMetric = Callable[[np.ndarray, np.ndarray], float]


def percentile_bootstrap(statistic: Callable[..., float], samples: tuple[np.ndarray, ...], resamples: int = 200,
                         seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """(low, high) of a ``level`` CI for statistic(*samples); one seeded Generator draws all indices,
    sample by sample within each resample."""
    assert 0 < level < 1 and resamples >= 2 and samples
    rng = np.random.default_rng(seed)
    values = [statistic(*(s[rng.integers(0, len(s), len(s))] for s in samples)) for _ in range(resamples)]
    tail = (1.0 - level) / 2
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_ci(metric: PairMetric, real: np.ndarray, fake: np.ndarray, resamples: int = 200,
                 seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """(low, high) of a ``level`` CI for metric(real, fake), real and fake resampled independently."""
    return percentile_bootstrap(metric, (real, fake), resamples, seed, level)


def one_sample_ci(stat: Callable[[np.ndarray], float], values: np.ndarray, resamples: int = 200,
                  seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """(low, high) of a percentile bootstrap CI for a statistic of one sample (rows resampled)."""
    return percentile_bootstrap(stat, (values,), max(resamples, 2), seed, level)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)
