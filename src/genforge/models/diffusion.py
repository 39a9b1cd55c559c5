"""The diffusion forward process: noise schedules, q(x_t | x_0) and the ε / x_0 / v conversions.

No networks live here. A :class:`Schedule` is built from its config (kind, T) the same way diffusers
builds ``DDPMScheduler(beta_schedule="linear" | "squaredcos_cap_v2")``, so a model trained here samples
with any reference sampler. All schedule arithmetic is float64; callers cast the coefficients they need.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
from torch import Tensor

from genforge.core.errors import ConfigError


@dataclass(frozen=True, eq=False)
class Schedule:
    """β_1..β_T and ᾱ_t = ∏_{s≤t}(1-β_s), both (T,) float64; index t = 0..T-1 is the paper's step t+1."""

    betas: Tensor
    alphas_cumprod: Tensor

    def __post_init__(self) -> None:
        assert self.betas.dtype == torch.float64 and self.alphas_cumprod.dtype == torch.float64
        assert self.betas.shape == self.alphas_cumprod.shape and self.betas.ndim == 1

    @classmethod
    def from_betas(cls, betas: Tensor) -> Schedule:
        betas = betas.to(torch.float64)
        return cls(betas=betas, alphas_cumprod=torch.cumprod(1.0 - betas, dim=0))

    @property
    def T(self) -> int:
        return int(self.betas.shape[0])

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t as a Python float; ᾱ_{-1} = 1 is "clean data", the end of every sampler's chain."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def sampling_timesteps(self, steps: int) -> list[int]:
        """The ``steps`` timesteps a sampler visits, from T-1 down: "trailing" spacing (Lin et al. 2024, Table 2).

        t_i = round(T·(steps-i)/steps) - 1, i = 0..steps-1, so the first step is always t = T-1 (the pure-noise
        end the model was trained on). Computed on exact fractions with ties to even: diffusers computes the same
        formula with ``np.arange`` on floats, which agrees whenever T/steps is a binary fraction (e.g. 1000/10,
        50/20) but elsewhere can break .5 ties by rounding noise or even return steps+1 timesteps.
        """
        if not 1 <= steps <= self.T:
            raise ConfigError(f"--sample-steps must be from 1 to {self.T} for this model's schedule, got {steps}")
        return [round(Fraction(self.T * (steps - i), steps)) - 1 for i in range(steps)]


def linear_schedule(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Schedule:
    """β linear from beta_start to beta_end (Ho et al. 2020, §4)."""
    return Schedule.from_betas(torch.linspace(beta_start, beta_end, T, dtype=torch.float64))


def cosine_schedule(T: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> Schedule:
    """Cosine ᾱ (Nichol & Dhariwal 2021, eq. 17); diffusers' ``squaredcos_cap_v2``."""
    # f(u) = cos²((u + s)/(1 + s) · π/2);  β_t = min(1 - f(t/T)/f((t-1)/T), max_beta)   (eq. 17 and §3.2)
    # ᾱ is then re-accumulated from the clipped β, as diffusers does, so ᾱ_T > 0 stays finite in log-SNR.
    u = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((u + s) / (1 + s) * (math.pi / 2)) ** 2
    return Schedule.from_betas(torch.clamp(1.0 - f[1:] / f[:-1], max=max_beta))


SCHEDULES = {"linear": linear_schedule, "cosine": cosine_schedule}


def make_schedule(kind: str, T: int) -> Schedule:
    """The schedule named ``kind`` ("linear" or "cosine") with T steps and the papers' other constants."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown noise schedule '{kind}'; choose one of {', '.join(sorted(SCHEDULES))}")
    return SCHEDULES[kind](T=T)


def _at(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] (float64 math) reshaped to (B, 1, ..., 1) and cast to ``like``'s dtype and device."""
    out = values.to(t.device)[t.long()]
    return out.reshape(-1, *([1] * (like.ndim - 1))).to(dtype=like.dtype, device=like.device)


def q_sample(schedule: Schedule, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """Draw x_t ~ q(x_t | x_0) with the given ε; x0, eps (B, C, H, W), t (B,) long."""
    # x_t = sqrt(ᾱ_t)·x_0 + sqrt(1-ᾱ_t)·ε        (Ho et al. 2020, eq. 4)
    a = schedule.alphas_cumprod
    return _at(a.sqrt(), t, x0) * x0 + _at((1 - a).sqrt(), t, x0) * eps.to(x0.dtype)


def predict_x0(schedule: Schedule, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """x_0 implied by x_t and a predicted ε."""
    # x̂_0 = (x_t - sqrt(1-ᾱ_t)·ε̂) / sqrt(ᾱ_t)     (eq. 4 solved for x_0; Ho et al. 2020, eq. 15)
    a = schedule.alphas_cumprod
    return (x_t - _at((1 - a).sqrt(), t, x_t) * eps) / _at(a.sqrt(), t, x_t)


def v_target(schedule: Schedule, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
    """The v-prediction target."""
    # v = sqrt(ᾱ_t)·ε - sqrt(1-ᾱ_t)·x_0          (Salimans & Ho 2022, §4)
    a = schedule.alphas_cumprod
    return _at(a.sqrt(), t, x0) * eps - _at((1 - a).sqrt(), t, x0) * x0


def eps_from_v(schedule: Schedule, x_t: Tensor, t: Tensor, v: Tensor) -> Tensor:
    """ε implied by x_t and a predicted v (so v-models can drive the ε-samplers)."""
    # ε = sqrt(ᾱ_t)·v + sqrt(1-ᾱ_t)·x_t          (substitute x_t = sqrt(ᾱ)x_0 + sqrt(1-ᾱ)ε into v; ᾱ + (1-ᾱ) = 1)
    a = schedule.alphas_cumprod
    return _at(a.sqrt(), t, x_t) * v + _at((1 - a).sqrt(), t, x_t) * x_t
