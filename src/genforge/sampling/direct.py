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


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, z_dim) points on the great circle from z0 to z1 (White 2016): a linear midpoint of two N(0, I)
    latents has an atypically small norm and decodes to a washed-out image."""
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)
    cos = (torch.nn.functional.normalize(z0, dim=0) * torch.nn.functional.normalize(z1, dim=0)).sum().clamp(-1, 1)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-4:  # (anti)parallel ends: the chord
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


@torch.no_grad()
def interpolation_grid(net: nn.Module, rows: int, steps: int, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """rows × steps images in [-1, 1]: row r walks from sample 2r's latent to sample 2r+1's (per-sample noise of
    ``seed``), with label ``labels[r]`` held fixed along the row."""
    noise = SampleNoise(seed, 2 * rows, next(net.parameters()).device)
    z = noise.randn(net.z_dim)
    path = torch.cat([slerp(z[2 * r], z[2 * r + 1], steps) for r in range(rows)])
    y = None if labels is None else labels.to(z.device).repeat_interleave(steps)
    was_training = net.training
    net.eval()
    try:
        return net(path, y)
    finally:
        net.train(was_training)

