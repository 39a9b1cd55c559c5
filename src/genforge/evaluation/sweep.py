"""The steps-vs-quality curve (`genforge eval RUN --sampler-sweep`): each sampler of the family at several step
counts, KID against the real reference with a bootstrap CI, and seconds per image.

KID, not FID: the sweep's N per point (default 500) is too small for FID, whose bias at small N is larger
than the differences between samplers; KID is unbiased (Bińkowski et al. 2018). Every point uses the same
seed, so the same per-sample starting noise: the curve compares samplers, not noise draws.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from genforge.core.errors import GenforgeError
from genforge.data.transforms import to_unit
from genforge.evaluation.metrics.bootstrap import bootstrap_ci
from genforge.evaluation.metrics.kid import kid

DEFAULT_STEPS = (5, 10, 20, 50)
DEFAULT_N = 500

# (request fields, labels, n, seed) -> uint8 images (n, C, H, W)
SweepSample = Callable[[dict, "torch.Tensor | None", int, int], torch.Tensor]


def sweep_points(samplers: Sequence[str], steps: Sequence[int], schedule_length: int) -> list[dict]:
    """(sampler, steps) pairs within the schedule; a clear error when none is left."""
    points = [{"sampler": s, "sample_steps": k} for s in samplers for k in steps if 1 <= k <= schedule_length]
    if not points:
        raise GenforgeError(f"no sweep point fits a schedule of {schedule_length} steps; pass --sweep-steps within 1..{schedule_length}")
    return points


def sampler_sweep(sample: SweepSample, points: list[dict], extractor, reference_x: torch.Tensor,
                  labels: torch.Tensor | None, n: int, seed: int, resamples: int, log=print) -> list[dict]:
    """One row per point: KID (mean over subsets) with a bootstrap 95 % CI, N, seconds and images/s."""
    real, _ = extractor(to_unit(reference_x))
    size = min(n, len(real), 1000)
    rows = []
    for i, point in enumerate(points, 1):
        t0 = time.perf_counter()
        fake_u8 = sample(point, labels, n, seed)
        seconds = time.perf_counter() - t0
        fake, _ = extractor(to_unit(fake_u8))
        value = kid(real, fake, subsets=20, subset_size=size, seed=seed)[0]
        ci = bootstrap_ci(lambda a, b: kid(a, b, subsets=4, subset_size=min(size, len(a), len(b)), seed=seed)[0],
                          real, fake, resamples=resamples, seed=seed)
        rows.append({**point, "kid": value, "ci95": list(ci), "n_generated": n, "n_real": int(len(real)),
                     "seconds": round(seconds, 2), "img_per_s": round(n / max(seconds, 1e-9), 1)})
        log(f"sweep {i}/{len(points)}: {point['sampler']} {point['sample_steps']:>4} steps  KID {value:.5f} "
            f"[{ci[0]:.5f}, {ci[1]:.5f}]  {n / max(seconds, 1e-9):.1f} img/s")
    return rows


def sweep_draws(rows: list[dict]):
    """Two plots (for report._plot): KID vs steps and KID vs seconds per image, one line per sampler, CI error bars."""
    def panel(x_of, label):
        def draw(ax):
            for sampler in sorted({r["sampler"] for r in rows}):
                mine = [r for r in rows if r["sampler"] == sampler]
                y = np.array([r["kid"] for r in mine])
                err = np.abs(np.array([r["ci95"] for r in mine]).T - y)
                ax.errorbar([x_of(r) for r in mine], y, yerr=err, marker="o", capsize=3, label=sampler)
            ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("KID (lower is better)")
            ax.set_title(f"N = {rows[0]['n_generated']} per point, 95 % CI")
            ax.legend()
        return draw
    return [panel(lambda r: r["sample_steps"], "sampler steps"),
            panel(lambda r: r["seconds"] / r["n_generated"], "seconds per image")]
