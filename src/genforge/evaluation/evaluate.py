"""`genforge eval`: every registered metric on one feature stack, each with provenance, CI and floor.

The inputs (samples, features, class probabilities, critic scores) are built once; then one loop
over the METRICS registry computes each metric whose inputs are there, as its ``MetricSpec``
declares (``metrics/spec.py``). For each result row: the value, a 95 % CI of the declared kind
(bootstrap, or Wilson's for proportions), the real-vs-real floor (the same metric with real images
in the generated ones' place: what a perfect generator would score at this N), its direction, and
the provenance of the instrument that produced its inputs (name and SHA-256, N real / N
generated, split, seed, dataset hash). Warnings say when N is too small for a metric to mean much.
"""
from __future__ import annotations

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
from genforge.evaluation.metrics.inputs import ImageInputs, MetricInputs
from genforge.evaluation.metrics.privacy import member_index
from genforge.evaluation.metrics.spec import MetricSpec, registered_specs

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


def _inputs(extractor, domain, fake_u8: torch.Tensor, labels: torch.Tensor | None, reference, data: PreparedData,
            settings: EvalSettings, critic: Critic | None) -> MetricInputs:
    """Everything measured once, for every metric: features, class probabilities, critic scores, images."""
    rng = torch.Generator().manual_seed(settings.seed)
    # the floor compares real with real at the generated sample size, so both carry the same small-N bias
    half_index = torch.randperm(len(data.train), generator=rng)[: min(settings.n, len(data.train))]
    half = data.train.subset(half_index)
    outputs = {name: extractor(to_unit(x)) for name, x in (("real", reference.x), ("fake", fake_u8), ("train", data.train.x))}
    feats = {name: features for name, (features, _) in outputs.items()}
    fake_probs = real_probs = critic_scores = images = None
    if domain.has_classes:
        if domain is extractor:  # the domain CNN gave class probabilities with the features: no second pass
            fake_probs, real_probs = outputs["fake"][1], outputs["real"][1]
        else:
            fake_probs, real_probs = (domain(to_unit(x))[1] for x in (fake_u8, reference.x))
    class_labels = domain.has_classes and labels is not None
    if class_labels and settings.cas:  # CAS trains a classifier: only when asked to
        images = ImageInputs(fake_u8, labels, half.x, half.y, data)
    if critic is not None:
        members = data.train.subset(torch.from_numpy(member_index(len(data.train), len(reference), settings.seed)))
        critic_scores = (critic.score(members.x, members.y), critic.score(reference.x, reference.y))
    return MetricInputs(
        real_features=feats["real"], fake_features=feats["fake"],
        half_features=feats["train"][half_index.numpy()],  # a subset of train: index its features, do not re-extract
        train_features=feats["train"], fake_probs=fake_probs, real_probs=real_probs,
        fake_labels=labels.numpy() if class_labels else None, real_labels=reference.y.numpy() if class_labels else None,
        critic_scores=critic_scores, images=images, seed=settings.seed)


def _provenance(extractor, domain, critic: Critic | None, inputs: MetricInputs, data: PreparedData,
                settings: EvalSettings) -> dict[str, dict]:
    """Each instrument's provenance (``spec.INPUTS``), which every result computed from its output carries."""
    n_real, n_fake = len(inputs.real_features), len(inputs.fake_features)
    common = {"seed": settings.seed, "dataset_hash": data.info.content_hash}
    prov = {"extractor": {**extractor.provenance, "n_real": n_real, "n_generated": n_fake, "split": settings.split, **common},
            "judge": {**domain.provenance, "n_generated": n_fake, **common}}
    if critic is not None:
        prov["critic"] = {**critic.provenance, "n_members": len(inputs.critic_scores[0]), "n_real": n_real,
                          "split": settings.split, **common}
    return prov


def _measure(name: str, spec: MetricSpec, inputs: MetricInputs, provenance: dict,
             settings: EvalSettings) -> tuple[dict[str, dict], dict]:
    """One spec's rows (value, CI by its kind, floor, direction, provenance, warnings) and its extras.

    The same for every metric.
    """
    estimates = spec.compute(inputs)
    floors = spec.floor.compute(inputs) if spec.floor else {}
    if set(estimates) != set(spec.rows) or not set(floors) <= set(spec.rows):
        raise GenforgeError(f"metric '{name}' computed {sorted(estimates)} (floor {sorted(floors)}) "
                            f"but declares rows {list(spec.rows)}; fix its MetricSpec")
    n_half = len(inputs.half_features)
    described = {"floor": spec.floor.describe.format(split=settings.split, n_half=n_half)} if spec.floor else {}
    out, extras = {}, {}
    for row, e in estimates.items():
        ci = spec.interval(e, settings.resamples, settings.seed)
        out[row] = {"value": float(e.value), "ci95": None if ci is None else [float(ci[0]), float(ci[1])],
                    "floor": float(floors[row]) if row in floors else None, "direction": spec.direction,
                    "provenance": {**provenance, **e.provenance, **described}, "warnings": list(e.warnings)}
        extras.update(e.extras)
    return out, extras


def evaluate(sample_fn: SampleFn, data: PreparedData, conditional: bool, settings: EvalSettings = EvalSettings(),
             run_provenance: dict | None = None, log=print, critic: Critic | None = None) -> dict:
    """Sample, extract features, compute every registered metric whose inputs this evaluation has.

    Returns a JSON-ready dict (see docs/metrics.md).
    """
    _check(settings, data)
    t0 = time.perf_counter()
    reference = reference_set(data, settings)
    extractor = EXTRACTORS.get(settings.extractor)(data, log=log, weights=settings.inception_weights,
                                                   sha256=settings.inception_sha256)
    domain = extractor if extractor.has_classes or data.info.num_classes < 2 else EXTRACTORS.get("domain")(data, log=log)
    labels = labels_like(reference, settings.n, conditional)
    log(f"sampling {settings.n} images ...")
    fake_u8 = sample_fn(labels, settings.n, settings.seed)
    inputs = _inputs(extractor, domain, fake_u8, labels, reference, data, settings, critic)
    provenance = _provenance(extractor, domain, critic, inputs, data, settings)
    metrics: dict[str, dict] = {}
    extras: dict = {}
    for name, spec in registered_specs().items():
        if not set(spec.inputs) <= inputs.available():
            continue
        log(f"computing {name} ...")
        rows, more = _measure(name, spec, inputs, provenance[spec.instrument], settings)
        metrics.update(rows)
        extras.update(more)
    return {"metrics": metrics, "settings": asdict(settings), "run": run_provenance or {},
            "seconds": round(time.perf_counter() - t0, 1), **extras,
            "_arrays": {"fake": fake_u8, "labels": labels, "real_features": inputs.real_features,
                        "fake_features": inputs.fake_features}}
