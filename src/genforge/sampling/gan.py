"""Sampling a GAN generator: pure, seeded by an explicit torch.Generator, batched."""
from __future__ import annotations

import torch
from torch import nn


def latents(n: int, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    """z ~ N(0, I), (n, z_dim), drawn from ``generator`` on its device."""
    return torch.randn(n, z_dim, generator=generator, device=generator.device)


@torch.no_grad()
def sample_gan(
    net: nn.Module,
    n: int,
    labels: torch.Tensor | None,
    generator: torch.Generator,
    batch_size: int = 256,
) -> torch.Tensor:
    """n images in [-1, 1], (n, C, H, W), on the network's device.

    The network is used in eval mode (BatchNorm running statistics) and restored to its previous
    mode afterwards. All noise is drawn up front, so the batch size never changes which noise a
    sample gets.
    """
    device = next(net.parameters()).device
    z = latents(n, net.z_dim, generator).to(device)
    y = None if labels is None else labels.to(device)
    was_training = net.training
    net.eval()
    try:
        parts = [net(z[i : i + batch_size], None if y is None else y[i : i + batch_size]) for i in range(0, n, batch_size)]
    finally:
        net.train(was_training)
    return torch.cat(parts) if parts else z.new_zeros((0,))
