"""Classifier score: the Inception Score with any classifier's p(y|x) (Salimans et al. 2016).

  IS = exp( E_x KL( p(y|x) ‖ p(y) ) ),   p(y) = E_x p(y|x)  (marginal over the split)

Ranges from 1 (every sample gets the same prediction, or every prediction is uniform) to K
(confident predictions spread evenly over K classes). The original cuts the samples into 10 parts
and reports mean ± std over parts; genforge uses one part (``splits=1``) and a bootstrap CI
instead: a conditional model's samples come ordered by class, so each of 10 consecutive parts
would hold one or two classes and score near 1, whatever the model. The score ignores the real
data entirely, so it cannot see mode dropping within a class (Barratt & Sharma 2018).
"""
from __future__ import annotations

import numpy as np
from scipy.special import rel_entr

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec


def _score(probs: np.ndarray) -> float:
    marginal = probs.mean(axis=0, keepdims=True)                 # p(y): (1, K)
    kl = rel_entr(probs, marginal).sum(axis=1)                   # KL(p(y|x) ‖ p(y)), 0·log 0 = 0: (N,)
    return float(np.exp(kl.mean()))


def classifier_score(probs: np.ndarray, splits: int = 1) -> tuple[float, float]:
    """(mean, std) over ``splits`` consecutive parts of probs (N, K), rows summing to 1."""
    p = np.asarray(probs, dtype=np.float64)
    assert p.ndim == 2 and np.allclose(p.sum(axis=1), 1.0, atol=1e-4), "rows must be probabilities"
    scores = [_score(part) for part in np.array_split(p, min(splits, len(p)))]
    return float(np.mean(scores)), float(np.std(scores))


def _one_split(probs: np.ndarray) -> float:
    return classifier_score(probs, splits=1)[0]  # one split: the label order must not matter


def _classifier_score(inputs: MetricInputs) -> dict[str, Estimate]:
    probs = inputs.require("fake_probs", "classifier_score")
    return {"classifier_score": Estimate(_one_split(probs), _one_split, (probs,))}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    return {"classifier_score": _one_split(inputs.require("real_probs", "classifier_score"))}


METRICS.register("classifier_score")(MetricSpec(
    rows=("classifier_score",), inputs=("probs",), direction="higher", ci="bootstrap", compute=_classifier_score,
    floor=Floor(_floor, "{split} images"), ci_cost=5))
