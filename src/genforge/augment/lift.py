"""Augmentation lift: does adding synthetic images help a downstream classifier?

Five arms, each defined by what it trains on and how it is augmented (``downstream.ARMS``): real with
no augmentation (``none``), real + classic augmentation, real + synthetic, real + classic + synthetic,
and synthetic only (TSTR). Each arm's recipe is chosen on the validation split (``search``); then,
and only then, each arm is trained once per seed and scored on the test split (``test_reads``).

The lifts compare the best synthetic arm (by validation) with ``none`` (``lift_vs_none``: does the
synthetic data carry information?) and with the strongest arm without synthetic data
(``lift_vs_classic``: does it add to classic augmentation?), paired by seed and by test item. Their CIs
add the spread between classifier seeds to the sampling error of the test split (:func:`seeds_ci`);
with one generator, the generator's own variance is not in them (`genforge augment-study` adds it).

Whether a generator may be measured this way at all is :mod:`genforge.augment.leak`'s question.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from scipy.stats import t as student_t

from genforge.augment.downstream import Recipe, TrainAndScore
from genforge.data.imageset import ImageSet

MIN_REAL = 10  # below this a baseline classifier means nothing


def classes_below(y: torch.Tensor, classes: list[str], minimum: int) -> list[str]:
    """'name (count)' of each class with fewer than ``minimum`` items in y."""
    counts = torch.bincount(y, minlength=len(classes))
    return [f"{classes[c]} ({int(counts[c])})" for c in range(len(classes)) if counts[c] < minimum]


def seeds_ci(scores: np.ndarray, level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and CI of a per-test-item score over seeds; ``scores`` is (seeds, test items).

    Two sources of error add up: training randomness, var(per-seed means)/S with S − 1 degrees of
    freedom, and which test images were drawn, var(per-item means)/T with T − 1. The interval uses
    Student's t with the Welch–Satterthwaite degrees of freedom of that sum, so a few seeds widen it
    only as far as their spread matters. For a lift, ``scores`` holds paired differences (−1, 0, 1).
    """
    s, n = scores.shape
    mean = float(scores.mean())
    parts = [(scores.mean(axis=1).var(ddof=1) / s, s - 1), (scores.mean(axis=0).var(ddof=1) / n, n - 1)]
    parts = [(v, df) for v, df in parts if df >= 1]
    total = sum(v for v, _ in parts)
    if total == 0:
        return mean, (mean, mean)
    df = total**2 / sum(v**2 / df for v, df in parts)
    half = float(student_t.ppf(0.5 + level / 2, df) * math.sqrt(total))
    return mean, (mean - half, mean + half)


def labelled(x: torch.Tensor, y: torch.Tensor, classes: list[str], source: str) -> ImageSet:
    return ImageSet(x=x, y=y.long(), ids=[f"{source}/{i}" for i in range(len(x))], classes=classes,
                    source=source, content_hash="")


def verdict(ci: tuple[float, float]) -> str:
    if ci[0] > 0:
        return "helps"
    if ci[1] < 0:
        return "hurts"
    return "no measurable effect"


def measure_arms(score: TrainAndScore, chosen: dict[str, Recipe], synthetic_arm: str, baseline_arm: str,
                 labels: np.ndarray | None, classes: list[str] | None, seeds: int = 3, log=print) -> dict:
    """Each chosen recipe trained ``seeds`` times and scored on test; accuracies, the two lifts, per-class changes."""
    if seeds < 2:
        raise ValueError("the lift needs at least 2 seeds for a CI")
    correct: dict[str, np.ndarray] = {}
    for arm, recipe in chosen.items():
        rows = []
        for s in range(seeds):
            t0 = time.perf_counter()
            rows.append(score(recipe, s, "test"))
            log(f"  test {arm:18} seed {s + 1}/{seeds}: accuracy {rows[-1].mean():.4f} ({time.perf_counter() - t0:.0f}s)")
        correct[arm] = np.stack(rows)
    arms = {}
    for arm, recipe in chosen.items():
        mean, ci = seeds_ci(correct[arm])
        arms[arm] = {"recipe": recipe.to_json(), "accuracy": mean, "ci95": list(ci),
                     "per_seed": correct[arm].mean(axis=1).tolist()}

    def lift(base: str) -> dict:
        value, ci = seeds_ci(correct[synthetic_arm] - correct[base])
        out = {"value": value, "ci95": list(ci), "verdict": verdict(ci), "against": base}
        if labels is not None and classes is not None:
            diff = (correct[synthetic_arm] - correct[base]).mean(axis=0)
            out["per_class"] = {classes[c]: float(diff[labels == c].mean()) for c in range(len(classes)) if (labels == c).any()}
        return out

    return {"arms": arms, "chosen": {"arm": synthetic_arm, "recipe": chosen[synthetic_arm].to_json(),
                                     "accuracy": arms[synthetic_arm]["accuracy"], "ci95": arms[synthetic_arm]["ci95"],
                                     "lift_vs_none": lift("none"), "lift_vs_classic": lift(baseline_arm)},
            "seeds": seeds, "n_test": int(next(iter(correct.values())).shape[1]),
            "_scores": {arm: c.astype(np.int8).tolist() for arm, c in correct.items()}}  # (seeds, items) 0/1 per arm
