"""DDIM sampling (Song et al. 2021), deterministic at eta = 0.

Walks the trailing sub-sequence τ_1 > ... > τ_S of :meth:`Schedule.sampling_timesteps`, always to the
next τ and finally to ᾱ = 1 (diffusers' ``set_alpha_to_one=True``), so the result is the last x̂_0.
Pure: the chain lives in local variables, all noise comes from ``noise`` (none is drawn at eta = 0).
"""
from __future__ import annotations

import torch
from torch import Tensor

from genforge.core.registry import SAMPLERS
from genforge.models.diffusion import Schedule, predict_x0
from genforge.sampling.noise import SampleNoise


def ddim(eps_fn, schedule: Schedule, x_T: Tensor, steps: int, noise: SampleNoise, eta: float = 0.0,
         clip: bool = True) -> Tensor:
    """Sample x_0 from x_T (n, C, H, W); eta = 0 is the ODE sampler, eta = 1 the DDPM posterior variance."""
    timesteps = schedule.sampling_timesteps(steps)
    assert len(noise) == x_T.shape[0], "one SampleNoise row per sample"
    x = x_T.to(torch.float32)
    n, c, h, w = x.shape
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        a_t, a_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
        t_batch = torch.full((n,), t, dtype=torch.long, device=x.device)
        eps = eps_fn(x, t_batch).to(torch.float32)
        x0 = predict_x0(schedule, x, t_batch, eps)  # (Song et al. 2021, eq. 12, "predicted x_0")
        if clip:
            # Only x̂_0 is clipped; the direction term keeps the model's ε (diffusers' default,
            # use_clipped_model_output=False).
            x0 = x0.clamp(-1.0, 1.0)
        # σ_t(η) = η·sqrt((1-ᾱ_{t-1})/(1-ᾱ_t))·sqrt(1 - ᾱ_t/ᾱ_{t-1})          (eq. 16)
        sigma = eta * ((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)) ** 0.5
        # x_{t-1} = sqrt(ᾱ_{t-1})·x̂_0 + sqrt(1-ᾱ_{t-1}-σ_t²)·ε̂ + σ_t·z      (eq. 12)
        x = a_prev ** 0.5 * x0 + max(1 - a_prev - sigma ** 2, 0.0) ** 0.5 * eps
        if eta > 0 and t_prev >= 0:  # the last step lands on ᾱ = 1, where σ = 0: nothing to draw
            x = x + sigma * noise.randn(c, h, w).to(x.device)
    return x


SAMPLERS.register("ddim")(ddim)
