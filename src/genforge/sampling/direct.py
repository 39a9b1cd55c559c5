"""Direct sampling: one forward pass of a decoder from a latent z ~ N(0, I) (GAN generators, VAE decoders).

Pure: the latent of sample k comes from sample k's own generator (``SampleNoise``), so batching never
changes a sample. ``truncation`` is the truncation trick (Brock et al. 2019): latent entries with
|z| > t are redrawn from the same generator until inside, trading diversity for fidelity.
"""
from __future__ import annotations

import torch
from torch import nn

from genforge.core.registry import SAMPLERS
from genforge.sampling.noise import SampleNoise
from genforge.sampling.request import SampleRequest


def latents(n: int, z_dim: int, generator: torch.Generator) -> torch.Tensor:
    """z ~ N(0, I), (n, z_dim), from one generator (training draws; sampling requests use ``request_latents``)."""
    return torch.randn(n, z_dim, generator=generator, device=generator.device)


def request_latents(noise: SampleNoise, z_dim: int, truncation: float | None) -> torch.Tensor:
    """(n, z_dim) latents, row k from sample k's generator; truncated by resampling when asked."""
    if truncation is None:
        return noise.randn(z_dim)
    rows = []
    for g in noise.generators:
        z = torch.randn(z_dim, generator=g, device=noise.device)
        while (outside := z.abs() > truncation).any():  # P(redraw) < 1 for any t > 0: terminates
            z[outside] = torch.randn(int(outside.sum()), generator=g, device=noise.device)
        rows.append(z)
    return torch.stack(rows) if rows else torch.zeros((0, z_dim), device=noise.device)


@SAMPLERS.register("direct")
def direct(net: nn.Module, request: SampleRequest, labels: torch.Tensor | None, noise: SampleNoise) -> torch.Tensor:
    """net(z, y) for z drawn per sample: images in [-1, 1], (n, C, H, W)."""
    z = request_latents(noise, net.z_dim, request.truncation).to(next(net.parameters()).device)
    return net(z, labels)
