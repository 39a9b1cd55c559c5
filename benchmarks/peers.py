"""Peers for the benchmarks, outside the package: a classic DCGAN (Radford et al. 2016) for 28x28."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class View(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.view(x.shape[0], *self.shape)


def classic_dcgan(z_dim: int = 100) -> tuple[nn.Module, nn.Module]:
    """The textbook MNIST DCGAN (~1M parameters in all): 7x7x256 -> 14x14x128 -> 28x28x1; D mirrors it."""
    G = nn.Sequential(
        nn.Linear(z_dim, 256 * 7 * 7), nn.BatchNorm1d(256 * 7 * 7), nn.ReLU(), View(256, 7, 7),
        nn.ConvTranspose2d(256, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 1, 4, 2, 1), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1),
    )
    return G, D


def classic_step(G, D, opt_g, opt_d, x: torch.Tensor, z_dim: int = 100) -> None:
    """One non-saturating BCE GAN step, as in the DCGAN paper."""
    b = x.shape[0]
    with torch.no_grad():
        fake = G(torch.randn(b, z_dim))
    d_loss = F.softplus(-D(x)).mean() + F.softplus(D(fake)).mean()
    opt_d.zero_grad()
    d_loss.backward()
    opt_d.step()
    g_loss = F.softplus(-D(G(torch.randn(b, z_dim)))).mean()
    opt_g.zero_grad()
    g_loss.backward()
    opt_g.step()
