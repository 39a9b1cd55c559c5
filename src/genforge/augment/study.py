"""The statistics of `genforge augment-study`: a lift over generator seeds, classifier seeds and test items.

Per regime (family, real fraction) the data are Δ[g, s, i]: the paired difference in correctness (−1, 0, 1)
between the synthetic arm and a baseline arm, for generator seed g, classifier seed s and test item i.
Generators and test items are crossed random effects (every generator is scored on every item); the
classifier seeds are nested in the generator (their per-seed shift acts like part of the generator effect).
With m[g, i] the mean over seeds, the two-way ANOVA mean squares give an unbiased estimate of the variance
of the grand mean (the method of moments for a crossed design, e.g. Searle, Casella & McCulloch 1992):

    Var(mean) = (MS_G + MS_I − MS_GI) / (G · I)

since E[MS_G] = I·σ²_g + σ²_r, E[MS_I] = G·σ²_i + σ²_r, E[MS_GI] = σ²_r and Var(mean) = σ²_g/G + σ²_i/I + σ²_r/(G·I).
Degrees of freedom by Satterthwaite. One generator (G = 1) falls back to seed × item (``lift.seeds_ci``),
which does not contain the generator's variance, and says so.

Verdicts use one-sided tests at α = 0.05, Holm-adjusted across the study's regimes: "helps" when
Δ > 0 is shown; "does not help" when Δ < +1 point is shown; otherwise "inconclusive".
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import t as student_t

ALPHA = 0.05
USEFUL = 0.01  # a lift below one point of accuracy is not worth a generator


def crossed_mean_se(delta: np.ndarray) -> tuple[float, float, float, str]:
    """(mean, standard error, degrees of freedom, which variance) of Δ[g, s, i]."""
    if delta.ndim != 3 or min(delta.shape) < 1:
        raise ValueError(f"expected Δ[generator, seed, item], got shape {delta.shape}")
    g, s, n = delta.shape
    m = delta.mean(axis=1)  # (G, I)
    grand = float(m.mean())
    if g == 1:
        scores = delta[0]
        parts = [(scores.mean(axis=1).var(ddof=1) / s, s - 1), (scores.mean(axis=0).var(ddof=1) / n, n - 1)]
        parts = [(v, df) for v, df in parts if df >= 1]
        total = sum(v for v, _ in parts)
        df = total**2 / sum(v**2 / d for v, d in parts) if total > 0 else math.inf
        return grand, math.sqrt(total), df, "classifier seed x test item (one generator: its variance is not included)"
    mg, mi = m.mean(axis=1), m.mean(axis=0)
    ms_g = n * float(((mg - grand) ** 2).sum()) / (g - 1)
    ms_i = g * float(((mi - grand) ** 2).sum()) / (n - 1)
    ms_gi = float(((m - mg[:, None] - mi[None, :] + grand) ** 2).sum()) / ((g - 1) * (n - 1))
    combo = ms_g + ms_i - ms_gi
    if combo <= 0:  # a negative moment estimate (rare, tiny components): fall back to the larger main effect
        combo = max(ms_g, ms_i)
    denom = ms_g**2 / (g - 1) + ms_i**2 / (n - 1) + ms_gi**2 / ((g - 1) * (n - 1))
    df = combo**2 / denom if denom > 0 else math.inf
    return grand, math.sqrt(combo / (g * n)), df, "generator seed x classifier seed x test item (crossed random effects)"


def one_sided(mean: float, se: float, df: float) -> dict:
    """One-sided 95 % bounds and the p-values of "Δ > 0" and "Δ < USEFUL"."""
    if se == 0:
        return {"lower95": mean, "upper95": mean, "p_helps": 0.0 if mean > 0 else 1.0,
                "p_not_useful": 0.0 if mean < USEFUL else 1.0}
    q = float(student_t.ppf(1 - ALPHA, df))
    return {"lower95": mean - q * se, "upper95": mean + q * se,
            "p_helps": float(student_t.sf(mean / se, df)), "p_not_useful": float(student_t.cdf((mean - USEFUL) / se, df))}


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm 1979)."""
    order = np.argsort(p, kind="stable")
    adjusted, running = [0.0] * len(p), 0.0
    for rank, k in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[k]))
        adjusted[k] = running
    return adjusted


def verdicts(regimes: list[dict]) -> list[dict]:
    """Each regime's {mean, se, df, ...} gains Holm-adjusted p-values and its verdict."""
    helps = holm([r["p_helps"] for r in regimes])
    useless = holm([r["p_not_useful"] for r in regimes])
    out = []
    for r, ph, pn in zip(regimes, helps, useless):
        verdict = "helps" if ph < ALPHA else "does not help" if pn < ALPHA else "inconclusive"
        out.append({**r, "p_helps_holm": ph, "p_not_useful_holm": pn, "verdict": verdict})
    return out


def lift_summary(delta: np.ndarray) -> dict:
    mean, se, df, variance = crossed_mean_se(delta)
    return {"value": mean, "se": se, "df": df, "variance": variance, "generators": int(delta.shape[0]),
            "classifier_seeds": int(delta.shape[1]), "n_test": int(delta.shape[2]), **one_sided(mean, se, df)}
