"""Acceptance of a conditional image generator by the judge (never used for selection).

- conditional accuracy: fraction of class-conditioned samples the judge assigns to the requested class;
- diversity ratio (mode-collapse check): per class, the mean pairwise distance of samples in the
  judge's feature space divided by that of real test images of the class (1.0 = as diverse as real).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from genforge.data.prepare import PreparedData
from genforge.data.transforms import to_unit
from genforge.evaluation.classifier import JUDGE, get_classifier, predict


def mean_pairwise_distance(f: torch.Tensor) -> float:
    n = len(f)
    if n < 2:
        return float("nan")
    d = torch.cdist(f.double(), f.double())
    return float(d.sum() / (n * (n - 1)))


def judge_acceptance(
    sample_fn: Callable[[torch.Tensor, int], torch.Tensor],
    data: PreparedData,
    per_class: int = 100,
    seed: int = 0,
    log=print,
) -> dict:
    """sample_fn(labels, seed) -> uint8 images. Returns accuracy, per-class figures, diversity ratios."""
    judge = get_classifier(data.train, data.test, data.info, JUDGE, log)
    k = data.info.num_classes
    labels = torch.arange(k).repeat_interleave(per_class)
    logits, feats = predict(judge.net, to_unit(sample_fn(labels, seed)))
    correct = logits.argmax(1) == labels
    _, real_feats = predict(judge.net, to_unit(data.test.x))
    per_class_acc, ratios = {}, {}
    for c in range(k):
        name = data.info.classes[c]
        per_class_acc[name] = float(correct[labels == c].float().mean())
        real_c = real_feats[data.test.y == c]
        ratios[name] = mean_pairwise_distance(feats[labels == c]) / mean_pairwise_distance(real_c)
    finite = [r for r in ratios.values() if r == r]
    return {
        "conditional_accuracy": float(correct.float().mean()),
        "per_class_accuracy": per_class_acc,
        "diversity_ratio": ratios,
        "min_diversity_ratio": min(finite) if finite else float("nan"),
        "n_samples": len(labels),
        "judge": {"name": judge.name, "sha256": judge.sha256, "test_accuracy": judge.test_accuracy,
                  "n_test": len(data.test), "train_seconds": round(judge.seconds, 1)},
    }
