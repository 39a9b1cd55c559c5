"""Conditional accuracy: how often the domain classifier agrees with the class a sample was asked for."""
from __future__ import annotations

import numpy as np

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec


def conditional_accuracy(probs: np.ndarray, labels: np.ndarray) -> tuple[int, int]:
    """(correct, n): samples whose most likely class under ``probs`` (N, K) is the requested ``labels`` (N,)."""
    labels = np.asarray(labels)
    assert probs.ndim == 2 and labels.shape == (len(probs),), (probs.shape, labels.shape)
    return int((probs.argmax(axis=1) == labels).sum()), len(labels)


def _conditional_accuracy(inputs: MetricInputs) -> dict[str, Estimate]:
    correct, n = conditional_accuracy(inputs.require("fake_probs", "conditional_accuracy"),
                                      inputs.require("fake_labels", "conditional_accuracy"))
    return {"conditional_accuracy": Estimate(correct / n, count=(correct, n))}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    """The classifier's own accuracy on the reference split."""
    labels = inputs.require("real_labels", "conditional_accuracy")
    return {"conditional_accuracy": conditional_accuracy(inputs.require("real_probs", "conditional_accuracy"),
                                                         labels)[0] / len(labels)}


METRICS.register("conditional_accuracy")(MetricSpec(
    rows=("conditional_accuracy",), inputs=("probs", "labels"), direction="higher", ci="wilson",
    compute=_conditional_accuracy, floor=Floor(_floor, "classifier accuracy on real {split} images")))
