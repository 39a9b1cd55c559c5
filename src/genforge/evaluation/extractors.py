"""Feature extractors for evaluation, as registered plug-ins.

``domain`` (default): the judge CNN trained on the dataset's own train split (the whole split, also
for runs trained on a ``data.train_fraction`` of it; cached by the data's prep hash); features are its penultimate layer, probabilities its softmax. Its test accuracy is
part of every metric's provenance. For unlabelled data it is the same CNN with fixed random
weights (weaker features; said in the provenance).
``inception``: InceptionV3 pool3 from local weights (``--inception-weights``), for comparability
with published FIDs; it gives no class probabilities, so class-based metrics keep the domain CNN.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from genforge.core.registry import EXTRACTORS
from genforge.data.prepare import PreparedData
from genforge.evaluation.classifier import JUDGE, SmallCNN, get_classifier, predict

NATIVE = "none (native resolution)"


@dataclass
class Extractor:
    name: str
    net: torch.nn.Module
    provenance: dict[str, Any]
    has_classes: bool

    @torch.no_grad()
    def __call__(self, x_unit: torch.Tensor, batch_size: int = 250) -> tuple[np.ndarray, np.ndarray | None]:
        """images in [-1, 1] -> (features (N, d) float64, class probabilities (N, K) or None)."""
        if isinstance(self.net, SmallCNN):
            logits, feats = predict(self.net, x_unit, batch_size)
            probs = torch.softmax(logits.double(), dim=1).numpy() if self.has_classes else None
            return feats.double().numpy(), probs
        self.net.eval()
        parts = [self.net(x_unit[i : i + batch_size]).double() for i in range(0, len(x_unit), batch_size)]
        return torch.cat(parts).numpy(), None


def _state_sha256(net: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@EXTRACTORS.register("domain")
def domain_extractor(data: PreparedData, log=print, **_: Any) -> Extractor:
    data = data.whole  # the judge learns from the whole train split, even for a run trained on a fraction of it
    info = data.info
    if info.num_classes >= 2:
        c = get_classifier(data.train, data.test, info, JUDGE, log)
        prov = {"extractor": "domain-cnn", "sha256": c.sha256, "classifier_test_accuracy": round(c.test_accuracy, 4),
                "classifier_n_test": len(data.test), "resize": NATIVE}
        return Extractor("domain", c.net, prov, True)
    with torch.random.fork_rng():
        torch.manual_seed(JUDGE.seed)
        net = SmallCNN(info.channels, 0, JUDGE.width, info.mean, info.std).eval()
    prov = {"extractor": "random-cnn", "sha256": _state_sha256(net), "resize": NATIVE,
            "note": "unlabelled data: fixed random CNN features (no classifier could be trained)"}
    return Extractor("domain", net, prov, False)


@EXTRACTORS.register("inception")
def inception_extractor(data: PreparedData, log=print, weights: str | None = None, sha256: str | None = None,
                        **_: Any) -> Extractor:
    from genforge.core.errors import ConfigError
    from genforge.evaluation.inception import load_inception

    if weights is None:
        raise ConfigError("the inception extractor needs --inception-weights PATH (see docs/inception-weights.md)")
    net = load_inception(weights, sha256)
    return Extractor("inception", net, net.provenance(), False)
