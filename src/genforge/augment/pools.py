"""Synthetic pools for `genforge augment`: labelled samples per generator request, optionally filtered.

A pool is n samples drawn with the real subset's class mix. Variants: the request as the user gave it;
when the user gave none, the family's default request and, where the family reads it, guidance 1 (no
guidance: lower guidance often gives more useful diversity, Sariyildiz et al. 2023) or truncation 1 for a
GAN or VAE whose default is none (the truncation trick trades diversity for fidelity, Brock et al. 2019; which
way helps a classifier is for the search to say). Each variant also comes filtered:
only the samples that a classifier trained on the real subset alone (never the judge, which saw the
whole train split) assigns to their requested class. Whether any of this helps is the validation
search's question, not this module's.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import torch

from genforge.augment.lift import labelled
from genforge.data.imageset import DataInfo, ImageSet
from genforge.data.transforms import to_unit
from genforge.evaluation.cas import CAS
from genforge.evaluation.classifier import predict, train_classifier
from genforge.evaluation.metrics.memorisation import memorisation
from genforge.evaluation.metrics.neighbours import as_tensor, nearest
from genforge.sampling.request import SampleRequest

FILTER = dataclasses.replace(CAS, role="filter", seed=11)


TRUNCATION = 1.0  # resample latent entries with |z| > 1: about a third of a standard normal's draws


def variants(given: SampleRequest | None, reads: dict[str, Any]) -> dict[str, SampleRequest | None]:
    """The generator requests to draw pools from, by name. ``reads``: the sampling fields the family reads,
    with this run's values of them."""
    if given is not None and given.given():
        return {json.dumps(given.given(), sort_keys=True): given}
    out: dict[str, SampleRequest | None] = {"default": None}
    if "guidance" in reads and reads["guidance"] not in (None, 1.0):
        out["guidance=1"] = SampleRequest(guidance=1.0)
    if "truncation" in reads and reads["truncation"] is None:
        out[f"truncation={TRUNCATION:g}"] = SampleRequest(truncation=TRUNCATION)
    return out


def make_pools(sample, real: ImageSet, info: DataInfo, n: int, labels: torch.Tensor, requests: dict, log=print,
               filter_updates: int | None = None) -> tuple[dict[str, ImageSet], dict[str, dict]]:
    """``sample(request, labels) -> uint8 images``; the pools by key and what each holds."""
    spec = FILTER if filter_updates is None else dataclasses.replace(FILTER, steps=filter_updates)
    judge_of_real = train_classifier(real, info, spec)  # the real subset only
    pools, about = {}, {}
    for name, request in requests.items():
        images = sample(request, labels)
        pool = labelled(images, labels, list(info.classes), f"synthetic-{name}")
        logits, _ = predict(judge_of_real, to_unit(images))
        keep = torch.nonzero(logits.argmax(1) == labels).flatten()
        pools[name] = pool
        about[name] = {"request": None if request is None else request.given(), "n": n, "filtered": False}
        if len(keep) >= max(10, n // 10) and len(keep) < n:  # a filter that keeps almost nothing, or all, is no variant
            pools[f"{name}+filter"] = pool.subset(keep)
            about[f"{name}+filter"] = {**about[name], "n": int(len(keep)), "filtered": True}
        log(f"pool {name}: {n} samples; the real-subset classifier agrees with {len(keep)} of them")
    return pools, about


def copy_check(synthetic: ImageSet, real: ImageSet, test: ImageSet) -> dict:
    """Are synthetic images near-copies of the real subset? Pixel-space nearest-neighbour figures, test images as the floor."""
    flat = lambda s: to_unit(s.x).flatten(1).double().numpy()  # noqa: E731
    train = flat(real)
    median_nn = lambda x: float(np.median(nearest(as_tensor(x), as_tensor(train))[0].numpy()))  # noqa: E731
    syn, held = flat(synthetic), flat(test)
    return {"median_nn_distance_synthetic": median_nn(syn), "median_nn_distance_test": median_nn(held),
            "nn_distance_ratio": median_nn(syn) / median_nn(held),
            "flagged_fraction_synthetic": memorisation(syn, train).flagged_fraction,
            "flagged_fraction_test": memorisation(held, train).flagged_fraction,
            "space": "pixels in [-1, 1]"}
