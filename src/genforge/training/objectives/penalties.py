"""Discriminator regularisers, each registered under its config name (gan.penalty)."""
from __future__ import annotations

from collections.abc import Callable

import torch

from genforge.core.registry import GAN_PENALTIES

# penalty(D, real, fake, y, weight, generator) -> scalar added to the D loss
Penalty = Callable[..., torch.Tensor]


def _input_grad_norm2(d_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(d_out.sum(), x, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1)  # (B,) ‖∇ₓD(x)‖²


@GAN_PENALTIES.register("none")
def no_penalty(D, real, fake, y, weight, generator) -> torch.Tensor:
    return real.new_zeros(())


@GAN_PENALTIES.register("gp")
def gradient_penalty(D, real, fake, y, weight, generator) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017, eq. 3): λ·E[(‖∇D(x̂)‖₂ − 1)²], x̂ = εx + (1−ε)x̃, ε ~ U[0,1]."""
    eps = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=generator.device).to(real.device)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    norm = _input_grad_norm2(D(x_hat, y), x_hat).add(1e-12).sqrt()
    return weight * (norm - 1).pow(2).mean()


@GAN_PENALTIES.register("r1")
def r1_penalty(D, real, fake, y, weight, generator) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, eq. 9): (γ/2)·E_real[‖∇ₓD(x)‖²]."""
    x = real.detach().requires_grad_(True)
    return 0.5 * weight * _input_grad_norm2(D(x, y), x).mean()
