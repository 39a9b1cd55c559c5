"""Augmentation lift: does adding synthetic images help a downstream classifier?

The same classifier (``cas.CAS``: a small CNN, a fixed number of updates whatever the data size) is
trained, once per seed, on three training sets and tested on the real test split:

- ``real``: the small real subset the generator was trained on (the baseline);
- ``real+synthetic``: that subset plus the synthetic images (concatenated, shuffled together);
- ``synthetic``: the synthetic images only (train on synthetic, test on real: TSTR / CAS).

The lift is accuracy(real+synthetic) − accuracy(real), paired by seed and by test image. Its CI
adds the spread between seeds to the sampling error of the test split (see :func:`seeds_ci`).

Whether a generator may be measured this way at all is :mod:`genforge.augment.leak`'s question.
"""
from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import torch
from scipy.stats import t as student_t

from genforge.data.imageset import DataInfo, ImageSet
from genforge.data.transforms import to_unit
from genforge.evaluation.cas import CAS
from genforge.evaluation.classifier import ClassifierSpec, predict, train_classifier

ARMS = ("real", "real+synthetic", "synthetic")
MIN_REAL = 10  # below this a baseline classifier means nothing


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


def concat(a: ImageSet, b: ImageSet) -> ImageSet:
    return ImageSet(x=torch.cat([a.x, b.x]), y=torch.cat([a.y, b.y]), ids=a.ids + b.ids, classes=a.classes,
                    source=f"{a.source}+{b.source}", content_hash="")


def labelled(x: torch.Tensor, y: torch.Tensor, classes: list[str], source: str) -> ImageSet:
    return ImageSet(x=x, y=y.long(), ids=[f"{source}/{i}" for i in range(len(x))], classes=classes,
                    source=source, content_hash="")


def verdict(ci: tuple[float, float]) -> str:
    if ci[0] > 0:
        return "helps"
    if ci[1] < 0:
        return "hurts"
    return "no measurable effect"


def measure_lift(real: ImageSet, synthetic: ImageSet, test: ImageSet, info: DataInfo, seeds: int = 3,
                 spec: ClassifierSpec = CAS, log=print) -> dict:
    """Train the downstream classifier on each arm for each seed; accuracies, CIs and the lift."""
    if seeds < 2:
        raise ValueError("the lift needs at least 2 seeds for a CI")
    sets = {"real": real, "real+synthetic": concat(real, synthetic), "synthetic": synthetic}
    x_test = to_unit(test.x)
    correct: dict[str, np.ndarray] = {}
    for arm in ARMS:
        rows = []
        for s in range(seeds):
            t0 = time.perf_counter()
            net = train_classifier(sets[arm], info, _seeded(spec, s))
            logits, _ = predict(net, x_test)
            rows.append((logits.argmax(1) == test.y).numpy().astype(np.float64))
            log(f"  {arm:15} seed {s + 1}/{seeds}: accuracy {rows[-1].mean():.4f} ({time.perf_counter() - t0:.0f}s)")
        correct[arm] = np.stack(rows)
    arms = {}
    for arm in ARMS:
        mean, ci = seeds_ci(correct[arm])
        arms[arm] = {"accuracy": mean, "ci95": list(ci), "per_seed": correct[arm].mean(axis=1).tolist(),
                     "n_train": len(sets[arm])}
    lift, lift_ci = seeds_ci(correct["real+synthetic"] - correct["real"])
    return {"arms": arms, "lift": {"value": lift, "ci95": list(lift_ci), "verdict": verdict(lift_ci)},
            "n_test": len(test), "seeds": seeds,
            "classifier": {k: v for k, v in spec.__dict__.items() if v is not None and k != "seed"}}


def _seeded(spec: ClassifierSpec, s: int) -> ClassifierSpec:
    return dataclasses.replace(spec, seed=spec.seed + 1000 * s)
