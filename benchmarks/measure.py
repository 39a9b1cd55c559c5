"""Shared measuring for the family benchmarks: one set of labelled samples judged, FID'd and timed.

Every figure comes from the same instruments as `genforge eval` and `genforge demo`: the judge CNN
(trained on the whole real train split, never used for selection) for conditional accuracy and
diversity, and its penultimate features for the domain FID with a percentile-bootstrap CI.
Work (run folders, cached cells) goes to benchmarks/work/, which is not committed.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

WORK = Path(__file__).resolve().parent / "work"


def cached(path: Path, compute):
    """The JSON at ``path``, or compute() written there first: a rerun resumes cell by cell."""
    if path.is_file():
        return json.loads(path.read_text())
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")
    return value


def mnist():
    from genforge.core.config import DataConfig
    from genforge.data.prepare import prepare

    return prepare(DataConfig(name="mnist"), warn=lambda *_: None)


def balanced_labels(k: int, per_class: int) -> torch.Tensor:
    return torch.arange(k).repeat_interleave(per_class)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def domain_features(data, images_u8: torch.Tensor) -> np.ndarray:
    from genforge.data.transforms import to_unit
    from genforge.evaluation.extractors import domain_extractor

    return domain_extractor(data, log=lambda *_: None)(to_unit(images_u8))[0]


def fid_with_ci(real: np.ndarray, fake: np.ndarray, resamples: int = 200, seed: int = 0) -> dict:
    from genforge.evaluation.metrics.bootstrap import bootstrap_ci
    from genforge.evaluation.metrics.fid import fid

    return {"value": fid(real, fake), "ci95": list(bootstrap_ci(fid, real, fake, resamples, seed)),
            "n_real": len(real), "n_fake": len(fake)}


def judge_and_fid(images_u8: torch.Tensor, labels: torch.Tensor, data, reference: str = "test") -> dict:
    """Judge acceptance (accuracy, worst-class diversity) and domain FID of labelled samples vs a real split."""
    from genforge.evaluation.acceptance import judge_acceptance

    acc = judge_acceptance(lambda lab, seed: images_u8, data, per_class=len(labels) // data.info.num_classes,
                           log=lambda *_: None)
    real = domain_features(data, getattr(data, reference).x)
    return {"conditional_accuracy": acc["conditional_accuracy"], "min_diversity_ratio": acc["min_diversity_ratio"],
            "per_class_accuracy": acc["per_class_accuracy"], "judge_test_accuracy": acc["judge"]["test_accuracy"],
            "fid": fid_with_ci(real, domain_features(data, images_u8)), "fid_reference": reference}


def real_floor(data, n: int, reference: str = "test") -> dict:
    """FID of n real train images against the reference split: what a perfect generator would score at this N."""
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(data.train), generator=g)[:n]
    return fid_with_ci(domain_features(data, getattr(data, reference).x), domain_features(data, data.train.x[pick]))


def mean_sd(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan")
