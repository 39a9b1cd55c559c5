"""`genforge eval`: every image metric on one feature stack, each with provenance, CI and floor.

For each metric the result holds the value, a bootstrap 95 % CI (Wilson interval for
accuracies), the real-vs-real floor (the same metric between a train subset and the reference
split: what a perfect generator would score at this N), and provenance (extractor name and
SHA-256, N real / N generated, split, seed, dataset hash). Warnings say when N is too small for
a metric to mean much.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genforge.core.config import MAX_SAMPLES, MAX_SEED
from genforge.core.errors import GenforgeError
from genforge.core.registry import EXTRACTORS
from genforge.data.prepare import PreparedData
from genforge.data.transforms import to_unit
from genforge.evaluation.metrics.bootstrap import bootstrap_ci, one_sample_ci
from genforge.evaluation.metrics.classifier_score import classifier_score
from genforge.evaluation.metrics.conditional import conditional_accuracy
from genforge.evaluation.metrics.fid import fid
from genforge.evaluation.metrics.kid import kid
from genforge.evaluation.metrics.memorisation import memorisation
from genforge.evaluation.metrics.prdc import prdc, prdc_per_sample
from genforge.evaluation.metrics.privacy import distance_attack, score_attack

SampleFn = Callable[[torch.Tensor | None, int, int], torch.Tensor]  # (labels, n, seed) -> uint8 images


@dataclass(frozen=True)
class Critic:
    """The model's own realness score (a GAN's discriminator), for the white-box membership attack."""

    score: Callable[[torch.Tensor, torch.Tensor | None], np.ndarray]  # (uint8 images, labels) -> (N,)
    provenance: dict


@dataclass(frozen=True)
class EvalSettings:
    n: int = 1000  # generated samples
    n_real: int | None = None  # real reference images (a seeded random subset); None = the whole split
    split: str = "test"  # reference split of real images
    seed: int = 0
    resamples: int = 50  # bootstrap resamples per CI
    extractor: str = "domain"
    inception_weights: str | None = None
    inception_sha256: str | None = None
    cas: bool = True


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def _check(settings: EvalSettings, data: PreparedData) -> None:
    if settings.split not in ("val", "test"):
        raise GenforgeError(f"--split must be val or test, got '{settings.split}'")
    if not 2 <= settings.n <= MAX_SAMPLES:
        raise GenforgeError(f"--n must be between 2 and {MAX_SAMPLES}, got {settings.n}")
    if not 0 <= settings.seed <= MAX_SEED:
        raise GenforgeError(f"--seed must be from 0 to {MAX_SEED}, got {settings.seed}")
    if not 2 <= settings.resamples <= 10_000:
        raise GenforgeError(f"--resamples must be from 2 to 10000 (a bootstrap CI needs resamples; 50+ is sensible), "
                            f"got {settings.resamples}")
    available = len(getattr(data, settings.split))
    if available < 2:
        raise GenforgeError(f"the {settings.split} split has {available} images; "
                            "metrics need at least 2 (lower data.val_fraction/test_fraction less, or add data)")
    if settings.n_real is not None and settings.n_real > available:
        raise GenforgeError(f"--n-real {settings.n_real} is more than the {available} images of the {settings.split} split; "
                            f"use at most {available}, or omit it to use the whole split")
    if settings.n_real is not None and settings.n_real < 2:
        raise GenforgeError(f"--n-real must be at least 2, got {settings.n_real}")


def reference_set(data: PreparedData, settings: EvalSettings):
    """The real reference images: the whole split, or a seeded random subset of --n-real."""
    split = getattr(data, settings.split)
    if settings.n_real is None:
        return split
    return split.subset(torch.randperm(len(split), generator=torch.Generator().manual_seed(settings.seed))[: settings.n_real])


def labels_like(reference, n: int, conditional: bool) -> torch.Tensor | None:
    """n labels in the reference set's class proportions (to within one per class), whatever its order.

    Evenly spaced picks from the sorted labels: taking the first n would give only the first classes
    of a folder whose files come sorted by class.
    """
    if not conditional or reference.y is None:
        return None
    ordered = torch.sort(reference.y).values
    picks = ((torch.arange(n, dtype=torch.float64) + 0.5) * len(ordered) / n).long()
    return ordered[picks].clone()


def _warnings(n_real: int, n_fake: int, dim: int, n_floor: int) -> dict[str, list[str]]:
    w: dict[str, list[str]] = {"fid": [], "kid_mean": [], "precision": [], "recall": []}
    if n_floor < n_fake:
        w["fid"].append(f"the floor uses all {n_floor} train images, fewer than the {n_fake} generated: "
                        "it carries more small-N bias than the value")
    if min(n_real, n_fake) < 2 * dim:
        w["fid"].append(f"N = {min(n_real, n_fake)} is below 2x the feature dimension ({dim}): the covariance is "
                        "poorly estimated and FID is strongly biased upwards; compare only at equal N, with the floor")
    if min(n_real, n_fake) < 1000:
        w["kid_mean"].append("fewer than 1,000 samples per side: KID is unbiased but its spread is large (see CI)")
        w["precision"].append("k-NN manifolds from fewer than 1,000 samples are coarse")
        w["recall"].append("k-NN manifolds from fewer than 1,000 samples are coarse")
    return w


def _block(value: float, ci, floor, prov: dict, warnings: list[str] | None = None) -> dict:
    return {"value": float(value), "ci95": None if ci is None else [float(ci[0]), float(ci[1])],
            "floor": None if floor is None else float(floor), "provenance": prov, "warnings": warnings or []}


def evaluate(sample_fn: SampleFn, data: PreparedData, conditional: bool, settings: EvalSettings = EvalSettings(),
             run_provenance: dict | None = None, log=print, critic: Critic | None = None) -> dict:
    """Sample, extract features, compute every metric. Returns a JSON-ready dict (see docs/metrics.md)."""
    _check(settings, data)
    t0 = time.perf_counter()
    reference = reference_set(data, settings)
    extractor = EXTRACTORS.get(settings.extractor)(data, log=log, weights=settings.inception_weights,
                                                   sha256=settings.inception_sha256)
    domain = extractor if extractor.has_classes or data.info.num_classes < 2 else EXTRACTORS.get("domain")(data, log=log)
    labels = labels_like(reference, settings.n, conditional)
    log(f"sampling {settings.n} images ...")
    fake_u8 = sample_fn(labels, settings.n, settings.seed)
    rng = torch.Generator().manual_seed(settings.seed)
    # the floor compares real with real at the generated sample size, so both carry the same small-N bias
    half_index = torch.randperm(len(data.train), generator=rng)[: min(settings.n, len(data.train))]
    half = data.train.subset(half_index)
    outputs = {name: extractor(to_unit(x)) for name, x in (("real", reference.x), ("fake", fake_u8), ("train", data.train.x))}
    feats = {name: features for name, (features, _) in outputs.items()}
    feats["half"] = feats["train"][half_index.numpy()]  # a subset of train: index its features, do not re-extract
    n_real, n_fake, dim = len(feats["real"]), len(feats["fake"]), feats["real"].shape[1]
    prov = {**extractor.provenance, "n_real": n_real, "n_generated": n_fake, "split": settings.split,
            "seed": settings.seed, "dataset_hash": data.info.content_hash, "floor": f"{len(half)} real train images vs {settings.split}"}
    warn = _warnings(n_real, n_fake, dim, len(half))
    R, F, H, T = feats["real"], feats["fake"], feats["half"], feats["train"]
    res = settings.resamples
    metrics: dict[str, dict] = {}
    log("computing FID, KID, precision/recall/density/coverage ...")
    metrics["fid"] = _block(fid(R, F), bootstrap_ci(fid, R, F, res, settings.seed), fid(H, R), prov, warn["fid"])
    size = min(1000, n_real, n_fake)
    kid_fn = lambda a, b: kid(a, b, subsets=10, subset_size=min(size, len(a), len(b)), seed=settings.seed)[0]  # noqa: E731
    k_mean, k_std = kid(R, F, subsets=100, subset_size=size, seed=settings.seed)
    metrics["kid_mean"] = _block(k_mean, bootstrap_ci(kid_fn, R, F, max(res // 5, 2), settings.seed),
                                 kid_fn(H, R), {**prov, "kid_std": k_std, "subset_size": size}, warn["kid_mean"])
    terms, floor = prdc_per_sample(R, F), prdc(R, H)
    for key, values in terms.items():
        metrics[key] = _block(values.mean(), one_sample_ci(np.mean, values, res, settings.seed), floor[key],
                              {**prov, "ci": "bootstrap over the averaged side only (manifold fixed)"}, warn.get(key))
    if domain is extractor:  # the domain CNN gave class probabilities with the features: no second pass
        fake_probs, real_probs = outputs["fake"][1], outputs["real"][1]
    else:
        fake_probs, real_probs = (domain(to_unit(x))[1] for x in (fake_u8, reference.x))
    metrics.update(_class_metrics(domain, fake_probs, real_probs, fake_u8, labels, reference, half, data, settings, log))
    mem = memorisation(F, T)
    mem_floor = memorisation(R, T)
    flagged = int(mem.flagged.sum())
    metrics["memorisation"] = _block(mem.flagged_fraction, wilson(flagged, n_fake), mem_floor.flagged_fraction,
                                     {**prov, "threshold": 0.5, "floor": f"{settings.split} images flagged against train"})
    member_idx = np.random.default_rng(settings.seed).permutation(len(T))[:n_real]
    mia, mia_ci = distance_attack(T[member_idx], R, F, res, settings.seed)
    no_leak = "0.5 = attacker cannot tell train from held-out"
    metrics["membership_auc"] = _block(mia, mia_ci, 0.5, {**prov, "attack": "distance to nearest generated sample",
                                                          "floor": no_leak})
    if critic is not None:
        members = data.train.subset(torch.from_numpy(member_idx))
        auc_c, ci_c = score_attack(critic.score(members.x, members.y), critic.score(reference.x, reference.y), res, settings.seed)
        metrics["membership_auc_critic"] = _block(auc_c, ci_c, 0.5, {
            **critic.provenance, "attack": "critic score (LOGAN white-box, Hayes et al. 2019)", "n_members": len(members),
            "n_real": n_real, "split": settings.split, "seed": settings.seed,
            "dataset_hash": data.info.content_hash, "floor": no_leak})
    order = np.argsort(mem.ratios)[:8]
    closest = [{"generated": int(i), "train": int(mem.nearest_train[i]), "ratio": float(mem.ratios[i])} for i in order]
    return {"metrics": metrics, "settings": asdict(settings), "run": run_provenance or {},
            "seconds": round(time.perf_counter() - t0, 1), "closest_pairs": closest,
            "_arrays": {"fake": fake_u8, "labels": labels, "real_features": R, "fake_features": F}}


def _class_metrics(domain, probs, real_probs, fake_u8, labels, reference, half, data, settings, log) -> dict[str, dict]:
    if not domain.has_classes:
        return {}
    dprov = {**domain.provenance, "n_generated": len(fake_u8), "seed": settings.seed, "dataset_hash": data.info.content_hash}
    out: dict[str, dict] = {}
    cs_mean, _ = classifier_score(probs, splits=1)  # one split: the label order must not matter
    score = lambda p: classifier_score(p, splits=1)[0]  # noqa: E731
    ci = one_sample_ci(score, probs, max(settings.resamples // 5, 2), settings.seed)
    out["classifier_score"] = _block(cs_mean, ci, score(real_probs),
                                     {**dprov, "floor": f"{settings.split} images"})
    if labels is not None:
        correct, _ = conditional_accuracy(probs, labels.numpy())
        real_correct = conditional_accuracy(real_probs, reference.y.numpy())[0] / len(reference)
        out["conditional_accuracy"] = _block(correct / len(labels), wilson(correct, len(labels)), real_correct,
                                             {**dprov, "floor": f"classifier accuracy on real {settings.split} images"})
        if settings.cas:
            from genforge.evaluation.cas import cas_accuracy

            log("training a classifier on generated images only (CAS) ...")
            acc, n_test = cas_accuracy(fake_u8, labels, data)
            real = half  # a random train subset of the generated sample size (not the first items: files come sorted)
            out["cas"] = _block(acc, wilson(round(acc * n_test), n_test), cas_accuracy(real.x, real.y, data)[0],
                                {**dprov, "n_test": n_test, "floor": f"same classifier trained on {len(real)} real train images"})
    return out
