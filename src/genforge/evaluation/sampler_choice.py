"""Choosing sampling settings (guidance, steps, sampler) on the validation split, with the selector.

The choice uses the family's cheap selection metric (``val_fjd``: the selector's features, the validation
images), never the judge: the judge that reports conditional accuracy must not have picked the settings
it reports on, any more than it may pick the checkpoint.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from genforge.core.registry import SELECTION_METRICS
from genforge.data.prepare import PreparedData
from genforge.sampling.request import SampleRequest

# (request, n, labels or None, seed) -> n images in [-1, 1]
RequestSampler = Callable[[SampleRequest, int, "torch.Tensor | None", int], torch.Tensor]


def compare_requests(sample: RequestSampler, data: PreparedData, requests: Sequence[SampleRequest],
                     metric: str = "val_fjd", n_samples: int = 500, seed: int = 0, log=print) -> list[dict]:
    """The selection metric of each request, on the same noise: [{"request", metric, "seconds"}], in order."""
    selector = SELECTION_METRICS.get(metric)(data, n_samples, seed, log)
    rows = []
    for req in requests:
        t0 = time.perf_counter()
        value = selector(lambda n, labels, s, req=req: sample(req, n, labels, s))
        rows.append({"request": req.to_json(), metric: value, "seconds": round(time.perf_counter() - t0, 1)})
        log(f"{req.to_json()}: {metric} {value:.4g} ({rows[-1]['seconds']:.0f}s)")
    return rows


def best_request(rows: list[dict], metric: str = "val_fjd") -> dict:
    """The row whose request scored best (each selection metric declares its direction)."""
    higher = bool(getattr(SELECTION_METRICS.get(metric), "higher_is_better", False))
    return (max if higher else min)(rows, key=lambda r: r[metric])
