"""Conditional accuracy: how often the domain classifier agrees with the class a sample was asked for."""
from __future__ import annotations

import numpy as np

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.inputs import MetricInputs


def conditional_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(correct, n): samples whose most likely class under ``probs`` (N, K) is the requested ``labels`` (N,)."""
    labels = np.asarray(labels)
    assert probs.ndim == 2 and labels.shape == (len(probs),), (probs.shape, labels.shape)
    return int((probs.argmax(axis=1) == labels).sum()), len(labels)


@METRICS.register("conditional_accuracy")
def conditional_accuracy_metric(inputs: MetricInputs) -> dict[str, float]:
    correct, n = conditional_accuracy(inputs.require("fake_probs", "conditional_accuracy"),
                                      inputs.require("fake_labels", "conditional_accuracy"))
    return {"conditional_accuracy": correct / n}
