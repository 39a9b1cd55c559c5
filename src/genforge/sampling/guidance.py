"""Classifier-free guidance (Ho & Salimans 2022) as a pure wrapper: conditional network -> ``eps_fn``.

The samplers only ever see ``eps_fn(x_t, t)``; guidance, like v-to-ε conversion, is the caller's business.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from genforge.core.errors import ConfigError

EpsFn = Callable[[Tensor, Tensor], Tensor]


def guided(eps_cond: Callable[[Tensor, Tensor, Tensor], Tensor], labels: Tensor, null_label: int, scale: float,
           interval: tuple[float, float] | None, T: int) -> EpsFn:
    """An ``eps_fn`` for labels (n,): ε̂ = ε(x,∅) + s·(ε(x,y) - ε(x,∅)), the ∅ label being ``null_label``.

    Both passes run as one batched forward of size 2n. ``scale == 1`` is exactly the conditional model
    (one pass of size n). With ``interval = (lo, hi)`` guidance applies only where t/T ∈ [lo, hi]
    (Kynkäänniemi et al. 2024); elsewhere ε̂ is the plain conditional ε, from a pass of size n when no
    sample of the batch is inside the interval.
    """
    if interval is not None and not 0.0 <= interval[0] <= interval[1] <= 1.0:
        raise ConfigError(f"--guidance-interval must be two numbers lo <= hi in [0, 1] (fractions of T), "
                          f"got {interval!r}")

    def eps_fn(x_t: Tensor, t: Tensor) -> Tensor:
        y = labels.to(x_t.device)
        inside = torch.ones_like(t, dtype=torch.bool)
        if interval is not None:
            frac = t.to(torch.float64) / T
            inside = (frac >= interval[0]) & (frac <= interval[1])
        if scale == 1.0 or not bool(inside.any()):
            return eps_cond(x_t, t, y)
        n = x_t.shape[0]
        eps = eps_cond(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null_label)]))
        e_cond, e_null = eps[:n], eps[n:]
        # ε̃ = ε(x, ∅) + s·(ε(x, y) - ε(x, ∅))        (Ho & Salimans 2022, eq. 6 with w = s - 1)
        e_guided = e_null + scale * (e_cond - e_null)
        return torch.where(inside.view(-1, *([1] * (x_t.ndim - 1))), e_guided, e_cond)

    return eps_fn
