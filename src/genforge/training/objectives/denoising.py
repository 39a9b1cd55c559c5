"""The denoising objective of diffusion models: L_simple (Ho et al. 2020, eq. 14) on ε or v.

Pure functions: the caller draws t and ε from its own generator and passes them in.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genforge.core.errors import ConfigError
from genforge.models.diffusion import Schedule, q_sample, v_target

Prediction = Literal["epsilon", "v"]


def denoising_loss(eps_or_v_fn: Callable[[Tensor, Tensor], Tensor], schedule: Schedule, x0: Tensor, t: Tensor,
                   eps: Tensor, prediction: Prediction = "epsilon") -> Tensor:
    """Mean squared error of the network's ε (or v) prediction at x_t = q_sample(x0, t, eps); a scalar."""
    if prediction not in ("epsilon", "v"):
        raise ConfigError(f"diffusion prediction must be 'epsilon' or 'v', got '{prediction}'")
    x_t = q_sample(schedule, x0, t, eps)
    # L_simple = E_{t,x_0,ε} ‖ε - ε_θ(x_t, t)‖²                (Ho et al. 2020, eq. 14)
    # or, for v-prediction, ‖v - v_θ(x_t, t)‖² with v = sqrt(ᾱ_t)ε - sqrt(1-ᾱ_t)x_0   (Salimans & Ho 2022)
    target = eps if prediction == "epsilon" else v_target(schedule, x0, t, eps)
    return F.mse_loss(eps_or_v_fn(x_t, t).float(), target.float())


def sample_timesteps(n: int, T: int, generator: torch.Generator) -> Tensor:
    """t ~ Uniform{0, ..., T-1}, (n,) long on the generator's device (Ho et al. 2020, Alg. 1 line 3)."""
    return torch.randint(0, T, (n,), generator=generator, device=generator.device)
