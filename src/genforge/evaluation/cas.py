"""Classification Accuracy Score (Ravuri & Vinyals 2019): train on generated, test on real.

A classifier trained only on generated images and their requested labels is tested on the real
test split. Close to the same classifier trained on real data means the samples carry the class
information a downstream model needs. Registered as the metric ``cas``: the one metric whose input
is images (it trains a classifier), evaluated only when ``EvalSettings.cas`` lets it.
"""
from __future__ import annotations

import torch

from genforge.core.registry import METRICS
from genforge.data.imageset import ImageSet
from genforge.data.prepare import PreparedData
from genforge.evaluation.classifier import ClassifierSpec, accuracy, train_classifier
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec

# The downstream classifier of CAS and of `genforge augment`: a fixed number of updates whatever
# the training-set size, so arms with more data are not also trained longer.
CAS = ClassifierSpec("cas", width=16, epochs=0, seed=3, steps=800)


def cas_accuracy(x_uint8: torch.Tensor, labels: torch.Tensor, data: PreparedData, spec: ClassifierSpec = CAS) -> tuple[float, int]:
    """(accuracy on the real test split, its size) of a classifier trained on (x, labels) only."""
    train = ImageSet(x=x_uint8, y=labels.long(), ids=[f"s{i}" for i in range(len(x_uint8))],
                     classes=list(data.info.classes), source="generated", content_hash="")
    net = train_classifier(train, data.info, spec)
    return accuracy(net, data.test), len(data.test)


def _cas(inputs: MetricInputs) -> dict[str, Estimate]:
    images = inputs.require("images", "cas")
    acc, n_test = cas_accuracy(images.fake, images.fake_labels, images.data)
    return {"cas": Estimate(acc, count=(round(acc * n_test), n_test), provenance={"n_test": n_test})}


def _floor(inputs: MetricInputs) -> dict[str, float]:
    """The same classifier trained on as many real train images."""
    images = inputs.require("images", "cas")
    return {"cas": cas_accuracy(images.real, images.real_labels, images.data)[0]}


METRICS.register("cas")(MetricSpec(rows=("cas",), inputs=("images",), direction="higher", ci="wilson", compute=_cas,
                                   floor=Floor(_floor, "same classifier trained on {n_half} real train images")))
