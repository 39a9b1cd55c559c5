"""DDPM ancestral sampling (Ho et al. 2020, Alg. 2), optionally respaced to fewer steps.

With steps == T this is Algorithm 2 with σ_t² = β̃_t. With steps < T it walks the trailing sub-sequence
τ_1 > ... > τ_S of :meth:`Schedule.sampling_timesteps` and treats each jump τ_i -> τ_{i+1} as one DDPM
step with β = 1 - ᾱ_{τ_i}/ᾱ_{τ_{i+1}} (Nichol & Dhariwal 2021, §4), as diffusers' DDPMScheduler does
after ``set_timesteps(steps)``. Pure: the chain lives in local variables, all noise comes from ``noise``.
"""
from __future__ import annotations

import torch
from torch import Tensor

from genforge.core.registry import SAMPLERS
from genforge.models.diffusion import Schedule, predict_x0
from genforge.sampling.noise import SampleNoise


def ddpm(eps_fn, schedule: Schedule, x_T: Tensor, steps: int, noise: SampleNoise, eta: float = 0.0,
         clip: bool = True) -> Tensor:
    """Sample x_0 from x_T (n, C, H, W); ``eta`` is ignored (the posterior variance is fixed at β̃)."""
    timesteps = schedule.sampling_timesteps(steps)
    assert len(noise) == x_T.shape[0], "one SampleNoise row per sample"
    x = x_T.to(torch.float32)
    n, c, h, w = x.shape
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        a_t, a_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
        beta = 1.0 - a_t / a_prev  # the β of this (possibly respaced) step
        t_batch = torch.full((n,), t, dtype=torch.long, device=x.device)
        x0 = predict_x0(schedule, x, t_batch, eps_fn(x, t_batch).to(torch.float32))
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        # Posterior mean written with x̂_0 so that clipping can act on it; with clip=False it is
        # algebraically Alg. 2's (x_t - β_t/sqrt(1-ᾱ_t)·ε̂)/sqrt(α_t).
        # μ̃_t = sqrt(ᾱ_{t-1})·β_t/(1-ᾱ_t)·x̂_0 + sqrt(α_t)·(1-ᾱ_{t-1})/(1-ᾱ_t)·x_t   (Ho et al. 2020, eq. 7)
        x = ((a_prev ** 0.5 * beta / (1 - a_t)) * x0
             + ((1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t)) * x)
        if t_prev >= 0:
            # x_{t-1} = μ̃_t + σ_t·z,  σ_t² = β̃_t = (1-ᾱ_{t-1})/(1-ᾱ_t)·β_t   (eq. 7; Alg. 2 line 4)
            # The last step lands on ᾱ = 1, where β̃ = 0: it draws nothing and returns the clipped x̂_0.
            sigma = ((1 - a_prev) / (1 - a_t) * beta) ** 0.5
            x = x + sigma * noise.randn(c, h, w).to(x.device)
    return x


SAMPLERS.register("ddpm")(ddpm)
