"""Choosing sampling settings (guidance, steps, sampler) on the validation split, with the selector.

The choice uses the family's cheap selection metric (``val_fjd``: the selector's features, the validation
images), never the judge: the judge that reports conditional accuracy must not have picked the settings
it reports on, any more than it may pick the checkpoint.

The rule (``choose_request``) starts from the family's default request, whose quality was measured over
seeds, and moves away from it only on evidence: another request is chosen when the one-sided lower bound of
its paired bootstrap gain over the default is above zero, at 95 % for the family of alternatives together
(Bonferroni: each of K − 1 alternatives at 5 %/(K − 1)). The bound is the basic (reflected) bootstrap one,
2·gain − q(gain*, 1 − α), not the percentile one: resampling rows with replacement inflates a Fréchet
distance by an amount that grows with the spread of the set, so percentile bounds of a difference lean
towards the narrower set (higher guidance, truncation), which is the move that costs diversity.
Picking the point minimum instead moves on noise: at 500 validation samples two guidance scales often lie
within a few per cent of each other, and the lower one can cost several points of class accuracy.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.core.registry import SELECTION_METRICS
from genforge.data.prepare import PreparedData
from genforge.evaluation.frechet import paired_frechet_draws
from genforge.sampling.request import SampleRequest

# (request, n, labels or None, seed) -> n images in [-1, 1]
RequestSampler = Callable[[SampleRequest, int, "torch.Tensor | None", int], torch.Tensor]
LEVEL = 0.95


def compare_requests(sample: RequestSampler, data: PreparedData, requests: Sequence[SampleRequest],
                     metric: str = "val_fjd", n_samples: int = 500, seed: int = 0, log=print) -> dict:
    """Score each request with the selection metric on the same noise and labels.

    Returns {"metric", "rows": [{"request", metric, "selector_accuracy", "seconds"}] in order, "real", "fakes"};
    "real" and "fakes" (the embedded rows, for ``choose_request``) are arrays, not JSON.
    """
    selector = SELECTION_METRICS.get(metric)(data, n_samples, seed, log)
    if not hasattr(selector, "embed_samples"):
        raise GenforgeError(f"{metric} scores the model, not its samples: it cannot compare sampling settings")
    rows, fakes = [], []
    for req in requests:
        t0 = time.perf_counter()
        fake, acc = selector.embed_samples(lambda n, labels, s, req=req: sample(req, n, labels, s))
        value = selector.distance(fake)
        rows.append({"request": req.to_json(), metric: value, "selector_accuracy": acc,
                     "seconds": round(time.perf_counter() - t0, 1)})
        fakes.append(fake)
        log(f"{req.to_json()}: {metric} {value:.4g}" + (f", selector accuracy {acc:.1%}" if acc is not None else "")
            + f" ({rows[-1]['seconds']:.0f}s)")
    return {"metric": metric, "rows": rows, "real": selector.real_embedded, "fakes": fakes}


def choose_request(scored: dict, default: int = 0, resamples: int = 200, seed: int = 0) -> dict:
    """The default request unless another is better at one-sided 95 % by a paired bootstrap of the difference.

    ``scored``: what ``compare_requests`` returned; ``default``: the index of the family's default request.
    Returns {"chosen": request, "index", "rule", "evidence": [{"request", "difference", "bound"}]}: each other
    request's difference to the default (positive = better) and the lower bound that had to clear zero.
    Among several that clear it, the best point value wins.
    """
    metric, rows = scored["metric"], scored["rows"]
    if not 0 <= default < len(rows):
        raise GenforgeError(f"the default request index {default} is not among the {len(rows)} requests compared")
    sign = 1.0 if getattr(SELECTION_METRICS.get(metric), "higher_is_better", False) else -1.0
    point, draws = paired_frechet_draws(scored["real"], {str(i): f for i, f in enumerate(scored["fakes"])}, resamples, seed)
    alpha = (1.0 - LEVEL) / max(1, len(rows) - 1)
    evidence, winners = [], []
    for i, row in enumerate(rows):
        if i == default:
            continue
        gain = _better_by(point[str(i)], point[str(default)], sign)  # > 0: request i is better
        draws_gain = np.array([_better_by(d[str(i)], d[str(default)], sign) for d in draws])
        bound = float(2 * gain - np.quantile(draws_gain, 1.0 - alpha))  # the basic bootstrap's lower bound
        evidence.append({"request": row["request"], "difference": gain, "bound": bound})
        if bound > 0:
            winners.append(i)
    own = lambda i: sign * point[str(i)] if math.isfinite(point[str(i)]) else -math.inf  # noqa: E731
    index = max(winners, key=lambda i: (own(i), -i)) if winners else default
    return {"chosen": rows[index]["request"], "index": index, "evidence": evidence,
            "rule": f"the default unless another request is better by {metric} at one-sided {LEVEL:.0%} for the "
                    f"{len(rows) - 1} alternatives together (Bonferroni; basic bootstrap bound, {resamples} paired "
                    "resamples)"}


def _better_by(value: float, base: float, sign: float) -> float:
    """How much better ``value`` is than ``base`` (> 0: better). A non-finite value (a diverged sampler) is the
    worst either way; two are a tie. Finite, so that quantiles of these stay defined."""
    ok_value, ok_base = math.isfinite(value), math.isfinite(base)
    if ok_value and ok_base:
        return sign * (value - base)
    return 0.0 if ok_value == ok_base else (_FAR if ok_value else -_FAR)


_FAR = 1e300
