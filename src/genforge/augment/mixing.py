"""Mixing real and synthetic images by batch share, with equal exposure to the real images.

The real-only arm makes ``base_updates`` updates of ``batch`` real images. An arm whose batches hold a
share r of synthetic images has only batch − round(r·batch) real images per update, so it makes
ceil(base_updates · batch / real_per_batch) updates: every arm then shows each real image equally often
(to within one batch), and a lift cannot come from, or be lost to, exposure to the real data. Concatenating
the two sets instead (the old recipe) showed each real image ~6x less often at 5x synthetic data.
The synthetic-only arm (train on synthetic, test on real) makes ``base_updates`` updates of synthetic images.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MixPlan:
    batch: int  # images per update
    synthetic: int  # synthetic images per update
    updates: int

    @property
    def real(self) -> int:
        return self.batch - self.synthetic


def mix_plan(base_updates: int, batch: int, share: float, n_real: int, n_synthetic: int = 0) -> MixPlan:
    """The plan of an arm whose batches are a ``share`` of synthetic images (0 = real only, 1 = synthetic only)."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the synthetic share must be in [0, 1], got {share}")
    if share > 0 and n_synthetic < 1:
        raise ValueError("a synthetic share needs synthetic images")
    if share == 1.0:
        return MixPlan(min(batch, n_synthetic), min(batch, n_synthetic), base_updates)
    if n_real < 1:
        raise ValueError("an arm with real images needs at least one")
    b = min(batch, n_real)  # the real-only arm's batch: the whole set when it is smaller than a batch
    synthetic = 0 if share == 0 else min(max(1, round(share * b)), b - 1)
    # a batch of b images in every arm; its real part shrinks, so more updates show each real image as often
    return MixPlan(b, synthetic, math.ceil(base_updates * b / (b - synthetic)))


def index_stream(n: int, g: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless indices into n items, epoch by epoch, each epoch a fresh permutation."""
    while True:
        yield from torch.randperm(n, generator=g)


def take(stream: Iterator[torch.Tensor], k: int) -> torch.Tensor:
    return torch.stack([next(stream) for _ in range(k)]) if k else torch.zeros(0, dtype=torch.long)


def batches(plan: MixPlan, n_real: int, n_synthetic: int, g: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(real indices, synthetic indices) for each of ``plan.updates`` updates."""
    real = index_stream(n_real, g) if plan.real else iter(())
    synthetic = index_stream(n_synthetic, g) if plan.synthetic else iter(())
    for _ in range(plan.updates):
        yield take(real, plan.real), take(synthetic, plan.synthetic)
