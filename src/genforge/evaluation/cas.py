"""Classification Accuracy Score (Ravuri & Vinyals 2019): train on generated, test on real.

A classifier trained only on generated images and their requested labels is tested on the real
test split. Close to the same classifier trained on real data means the samples carry the class
information a downstream model needs.
"""
from __future__ import annotations

import torch

from genforge.data.imageset import ImageSet
from genforge.data.prepare import PreparedData
from genforge.evaluation.classifier import ClassifierSpec, accuracy, train_classifier

# The downstream classifier of CAS and of `genforge augment`: a fixed number of updates whatever
# the training-set size, so arms with more data are not also trained longer.
CAS = ClassifierSpec("cas", width=16, epochs=0, seed=3, steps=800)


def cas_accuracy(x_uint8: torch.Tensor, labels: torch.Tensor, data: PreparedData, spec: ClassifierSpec = CAS) -> tuple[float, int]:
    """(accuracy on the real test split, its size) of a classifier trained on (x, labels) only."""
    train = ImageSet(x=x_uint8, y=labels.long(), ids=[f"s{i}" for i in range(len(x_uint8))],
                     classes=list(data.info.classes), source="generated", content_hash="")
    net = train_classifier(train, data.info, spec)
    return accuracy(net, data.test), len(data.test)
