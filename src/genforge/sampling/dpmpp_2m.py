"""DPM-Solver++(2M): second-order multistep solver of the diffusion ODE in data prediction (Lu et al. 2022),
and its SDE form, SDE-DPM-Solver++(2M), which solves the reverse diffusion SDE with the same multistep D.

Matches diffusers' ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero")`` on the trailing timesteps of
:meth:`Schedule.sampling_timesteps`:
- the first step is first order (there is no previous x̂_0 yet);
- the last step goes to σ = 0, where the update collapses to x_0 = x̂_0 of the last model call; it is
  first order, which is also all that ``lower_order_final`` asks of a second-order solver;
- every other step is the 2M update.
``clip=True`` clamps each data prediction x̂_0 to [-1, 1] before it enters the update (diffusers:
``thresholding=True, sample_max_value=1.0``, whose dynamic threshold is then always exactly 1);
``clip=False`` is diffusers' default, ``thresholding=False``. The ODE solver draws no noise; ``noise`` and
``eta`` are accepted for the common sampler signature. The multistep history is a local variable, not state.

The SDE form (``dpmpp-2m-sde``) matches diffusers' ``algorithm_type="sde-dpmsolver++"`` with the same
settings. Each step but the last draws one standard normal z per sample from ``noise``; the ODE step's
decay σ_t/σ_s becomes (σ_t/σ_s)·e^{-h}, and the D weight grows from α_t·(1-e^{-h}) to α_t·(1-e^{-2h}).
An ancestral sampler converges to the SDE's distribution; the ODE solver converges to the probability flow,
whose samples can be slightly worse for an imperfect model. That gap is what the SDE form closes at 10-20 steps.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from genforge.core.registry import SAMPLERS
from genforge.models.diffusion import Schedule, predict_x0
from genforge.sampling.noise import SampleNoise


def _alpha_sigma_lambda(schedule: Schedule, t: int) -> tuple[float, float, float]:
    """α_t = sqrt(ᾱ_t), σ_t = sqrt(1-ᾱ_t) and the half log-SNR λ_t = log(α_t/σ_t)   (Lu et al. 2022, §2)."""
    a = schedule.alpha_bar(t)
    alpha, sigma = math.sqrt(a), math.sqrt(1.0 - a)
    return alpha, sigma, math.log(alpha) - math.log(sigma)


def _dpmpp_2m(eps_fn, schedule: Schedule, x_T: Tensor, steps: int, noise: SampleNoise | None, clip: bool) -> Tensor:
    """The 2M loop; ``noise`` None solves the ODE, a SampleNoise the SDE."""
    timesteps = schedule.sampling_timesteps(steps)
    x = x_T.to(torch.float32)
    n, c, height, width = x.shape
    assert noise is None or len(noise) == n, "one SampleNoise row per sample"
    x0_prev, h_prev = None, None  # x̂_0 and step size h of the previous step: the multistep history
    for i, t in enumerate(timesteps):
        t_batch = torch.full((n,), t, dtype=torch.long, device=x.device)
        x0 = predict_x0(schedule, x, t_batch, eps_fn(x, t_batch).to(torch.float32))
        if clip:
            x0 = x0.clamp(-1.0, 1.0)
        if i + 1 == len(timesteps):
            # Final step to σ = 0 (λ = ∞, e^{-h} = 0): the first-order update below gives x_0 = 1·x̂_0.
            return x0
        alpha_s, sigma_s, lambda_s = _alpha_sigma_lambda(schedule, t)
        alpha_t, sigma_t, lambda_t = _alpha_sigma_lambda(schedule, timesteps[i + 1])
        h = lambda_t - lambda_s
        if x0_prev is None:
            d = x0  # first order: DPM-Solver++(1), i.e. DDIM
        else:
            # D = (1 + 1/(2r))·x̂_0(t_i) - 1/(2r)·x̂_0(t_{i-1}),  r = h_{i-1}/h_i   (Lu et al. 2022, Alg. 2)
            r = h_prev / h
            d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
        if noise is None:
            # x_t = (σ_t/σ_s)·x_s - α_t·(e^{-h} - 1)·D                           (Alg. 2; eq. 10 for 1st order)
            x = (sigma_t / sigma_s) * x - (alpha_t * math.expm1(-h)) * d
        else:
            # x_t = (σ_t/σ_s)·e^{-h}·x_s + α_t·(1 - e^{-2h})·D + σ_t·sqrt(1 - e^{-2h})·z      (the SDE form)
            x = ((sigma_t / sigma_s * math.exp(-h)) * x - (alpha_t * math.expm1(-2 * h)) * d
                 + (sigma_t * math.sqrt(-math.expm1(-2 * h))) * noise.randn(c, height, width).to(x.device))
        x0_prev, h_prev = x0, h
    raise AssertionError("unreachable: the last step returns")


def dpmpp_2m(eps_fn, schedule: Schedule, x_T: Tensor, steps: int, noise: SampleNoise, eta: float = 0.0,
             clip: bool = True) -> Tensor:
    """Sample x_0 from x_T (n, C, H, W) with ``steps`` model calls; deterministic (eta and noise unused)."""
    return _dpmpp_2m(eps_fn, schedule, x_T, steps, None, clip)


def dpmpp_2m_sde(eps_fn, schedule: Schedule, x_T: Tensor, steps: int, noise: SampleNoise, eta: float = 0.0,
                 clip: bool = True) -> Tensor:
    """Sample x_0 from x_T (n, C, H, W) with ``steps`` model calls, drawing ``steps - 1`` noises per sample (eta unused)."""
    return _dpmpp_2m(eps_fn, schedule, x_T, steps, noise, clip)


SAMPLERS.register("dpmpp-2m")(dpmpp_2m)
SAMPLERS.register("dpmpp-2m-sde")(dpmpp_2m_sde)
