"""Cheap validation metrics that drive best-checkpoint selection and early stopping.

Features come from the *selector*: a small CNN trained on the train split with its own seed and
width, so the judge that reports conditional accuracy is never the model that picked the
checkpoint. For unlabelled data the selector is the same CNN with fixed random weights.

``val_fjd``: Fréchet Joint Distance (DeVries et al. 2019): the Fréchet distance between the joint
embeddings [φ(x), α·onehot(y)] of validation images and of generated images conditioned on the
validation labels, α = mean ‖φ(x_val)‖. Wrong-class samples raise it; ``val_fd`` drops the labels.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from genforge.core.registry import SELECTION_METRICS
from genforge.data.prepare import PreparedData
from genforge.data.transforms import to_unit
from genforge.evaluation.classifier import SELECTOR, SmallCNN, get_classifier, predict
from genforge.evaluation.frechet import frechet_distance, gaussian_stats


def selector_net(data: PreparedData, log=print) -> SmallCNN:
    info = data.info
    if info.num_classes >= 2:
        return get_classifier(data.train, data.val, info, SELECTOR, log).net
    with torch.random.fork_rng():
        torch.manual_seed(SELECTOR.seed)
        return SmallCNN(info.channels, 0, SELECTOR.width, info.mean, info.std).eval()


class FrechetSelection:
    """Callable (sample_fn) -> value; real statistics are computed once."""

    joint: bool = False
    name: str = "val_fd"

    def __init__(self, data: PreparedData, n_samples: int, seed: int, log=print) -> None:
        real = data.val if len(data.val) >= 2 else data.train
        self.net = selector_net(data, log)
        self.labels = real.y if (real.y is not None and self.joint) else None
        self.num_classes = data.info.num_classes
        self.n = len(real) if self.labels is not None else n_samples
        self.seed = seed
        _, feats = predict(self.net, to_unit(real.x))
        self.alpha = float(feats.norm(dim=1).mean())
        self.real_embedded = self._embed(feats, self.labels)
        self.real_stats = gaussian_stats(self.real_embedded)
        self.last_seconds = 0.0

    def _embed(self, feats: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        if labels is None:
            return feats.double().numpy()
        onehot = F.one_hot(labels, self.num_classes).to(feats.dtype) * self.alpha
        return torch.cat([feats, onehot], dim=1).double().numpy()

    def embed_samples(self, sample_fn) -> tuple[np.ndarray, float | None]:
        """The embedded samples (the rows the distance is computed on) and the selector's own conditional
        accuracy on them (None without labels). Same noise at every call."""
        fake = sample_fn(self.n, self.labels, self.seed).cpu()
        logits, feats = predict(self.net, fake)
        acc = None if self.labels is None else float((logits.argmax(1) == self.labels).float().mean())
        return self._embed(feats, self.labels), acc

    def __call__(self, sample_fn, networks=None) -> float:
        """sample_fn(n, labels, seed) -> images in [-1, 1]. Same noise at every evaluation. (``networks``: the
        task's networks by name, for metrics that need the model itself, e.g. a validation ELBO; unused here.)"""
        t0 = time.perf_counter()
        fake, _ = self.embed_samples(sample_fn)
        value = self.distance(fake)
        self.last_seconds = time.perf_counter() - t0
        return value

    def distance(self, embedded: np.ndarray) -> float:
        """The Fréchet distance of embedded samples (``embed_samples``) to the real rows."""
        return frechet_distance(*gaussian_stats(embedded), *self.real_stats)


@SELECTION_METRICS.register("val_fd")
class ValFD(FrechetSelection):
    joint = False
    name = "val_fd"


@SELECTION_METRICS.register("val_fjd")
class ValFJD(FrechetSelection):
    joint = True
    name = "val_fjd"
