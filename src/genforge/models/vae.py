"""Convolutional VAE (Kingma & Welling 2014) and conditional VAE (Sohn et al. 2015) networks.

Sized for the CPU: 28x28x1 with width 32, z_dim 16 and 10 classes has 251,522 parameters
(encoder 119,872, decoder 131,650).
Any square image size ≥ 8 works: the encoder halves the resolution with 3x3 stride-2
convolutions (s -> ceil(s/2), e.g. 28 -> 14 -> 7, 32 -> 16 -> 8 -> 4, 9 -> 5) until it is ≤ 7,
and the decoder retraces the same stored sizes with nearest upsampling + 3x3 convolutions, so
sizes that do not halve evenly come back exactly.

Conditioning (CVAE): the class embedding e(y) is concatenated *after* the conv trunk, i.e. to the
flattened features in q(z|x, y) and to z in p(x|z, y). This costs embed_dim extra inputs to one
linear layer on each side instead of embed_dim extra full-resolution input planes.

The decoder's likelihood p(x|z, y) is one of (the loss math lives in training/objectives/vae_losses.py):
- "gaussian": N(x; mean, σ_c²) with a learned per-channel log-variance, shared by all pixels and
  all inputs (σ-VAE, Rybkin et al. 2021). A per-pixel variance predicted from z can collapse to 0
  on constant pixels (the MNIST background) and drive the NLL to −∞; a shared one cannot.
- "gaussian_fixed": N(x; mean, fixed_std²), fixed_std in [-1, 1] units.
- "cbernoulli": continuous Bernoulli CB(x01; λ) on x01 = (x + 1)/2 (Loaiza-Ganem & Cunningham 2019).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import ConfigError, did_you_mean

LIKELIHOODS = ("gaussian", "gaussian_fixed", "cbernoulli")


def size_ladder(size: int) -> list[int]:
    """image size -> resolutions after each stride-2 conv, e.g. 28 -> [28, 14, 7], 32 -> [32, 16, 8, 4]."""
    if size < 8:
        raise ConfigError(f"image size {size} is too small for the VAE networks (needs ≥ 8); set --set data.image_size=8")
    sizes = [size]
    while sizes[-1] > 7:
        sizes.append((sizes[-1] + 1) // 2)  # 3x3 conv, stride 2, padding 1: s -> ceil(s/2)
    return sizes


def cbernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    """Mean of CB(λ = σ(η)) mapped to [-1, 1]: 2·E[x01] − 1 = coth(η/2) − 2/η, the Langevin function L(η/2).

    E[x01] = λ/(2λ−1) + 1/(2·atanh(1−2λ)) (Loaiza-Ganem & Cunningham 2019) cancels catastrophically
    near λ = 0.5 (η = 0), where we use L(a) = a/3 − a³/45 + 2a⁵/945 − a⁷/4725 + 2a⁹/93555 (|a| < 0.6:
    truncation error < 1e-8, direct float32 error there ~1e-6). Large |η| is safe: coth -> ±1.
    """
    a = logits / 2
    small = a.abs() < 0.6
    a_safe = torch.where(small, torch.ones_like(a), a)  # keep the unused branch finite, or its grad is NaN
    direct = 1 / torch.tanh(a_safe) - 1 / a_safe
    a2 = a * a
    series = a * (1 / 3 + a2 * (-1 / 45 + a2 * (2 / 945 + a2 * (-1 / 4725 + a2 * (2 / 93555)))))
    return torch.where(small, series, direct)


class Encoder(nn.Module):
    """q(z | x [, y]) = N(mu, diag(exp(logvar))): image (B, C, H, W) in [-1, 1] -> (mu, logvar), each (B, z_dim).

    Widths double at each halving: 28x28 with width w is w@14x14 -> 2w@7x7 -> linear.
    """

    def __init__(self, channels: int, image_size: int, width: int, z_dim: int, num_classes: int = 0, embed_dim: int = 16) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        sizes = size_ladder(image_size)
        widths = [channels] + [width * 2**i for i in range(len(sizes) - 1)]
        self.trunk = nn.Sequential(*(
            layer for i in range(len(sizes) - 1)
            for layer in (nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1), nn.SiLU())
        ))
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        n_feat = widths[-1] * sizes[-1] ** 2 + (embed_dim if num_classes else 0)
        self.head = nn.Linear(n_feat, 2 * z_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x).flatten(1)  # (B, C_k·s_k²)
        if self.embed is not None:
            assert y is not None, "a conditional encoder needs labels"
            h = torch.cat([h, self.embed(y)], dim=1)  # (B, C_k·s_k² + embed_dim)
        mu, logvar = self.head(h).chunk(2, dim=1)  # (B, z_dim) each
        return mu, logvar


class Decoder(nn.Module):
    """p(x | z [, y]): z (B, z_dim) -> distribution parameters (``params``) or the mean image in [-1, 1] (``forward``).

    Mirrors the encoder: linear -> (C_k, s_k, s_k), then for each stored size upsample + 3x3 conv,
    then a 3x3 conv head to C channels (mean or logits).
    """

    def __init__(self, z_dim: int, channels: int, image_size: int, width: int, num_classes: int = 0,
                 embed_dim: int = 16, likelihood: str = "gaussian", fixed_std: float = 0.1, min_std: float = 1e-3) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown VAE likelihood '{likelihood}'{did_you_mean(likelihood, LIKELIHOODS)}")
        if not fixed_std > 0:
            raise ConfigError(f"fixed_std must be > 0 (got {fixed_std}); e.g. 0.1 in [-1, 1] units")
        self.z_dim, self.num_classes, self.likelihood = z_dim, num_classes, likelihood
        self.sizes = size_ladder(image_size)
        k = len(self.sizes) - 1
        widths = [width * 2**i for i in range(k)]  # widths[i] lives at sizes[i + 1]
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.fc = nn.Linear(z_dim + (embed_dim if num_classes else 0), widths[-1] * self.sizes[-1] ** 2)
        # block i upsamples to sizes[i] and maps widths[i] -> widths[max(i-1, 0)]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[max(i - 1, 0)], 3, padding=1) for i in reversed(range(k)))
        self.out = nn.Conv2d(widths[0], channels, 3, padding=1)
        # log σ² bounded below by log min_std² with a softplus, so it cannot collapse (nor stop learning at a hard clamp)
        self.min_logvar = 2 * math.log(min_std)
        if likelihood == "gaussian":
            start = 2 * math.log(fixed_std) - self.min_logvar  # start at σ = fixed_std; inverse softplus:
            self.raw_logvar = nn.Parameter(torch.full((channels,), start + math.log(-math.expm1(-start))))
        else:
            self.register_buffer("fixed_logvar", torch.full((channels,), 2 * math.log(fixed_std)), persistent=False)

    def _head(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if self.embed is not None:
            assert y is not None, "a conditional decoder needs labels"
            z = torch.cat([z, self.embed(y)], dim=1)  # (B, z_dim + embed_dim)
        h = self.fc(z).view(z.shape[0], -1, self.sizes[-1], self.sizes[-1])  # (B, C_k, s_k, s_k)
        for conv, size in zip(self.convs, reversed(self.sizes[:-1])):
            h = F.silu(conv(F.interpolate(h, size=(size, size), mode="nearest")))
        return self.out(h)  # (B, C, H, W), unbounded

    def logvar(self) -> torch.Tensor:
        """Per-channel log σ², shaped (1, C, 1, 1) to broadcast over (B, C, H, W)."""
        if self.likelihood == "gaussian":
            lv = self.min_logvar + F.softplus(self.raw_logvar)
        else:
            lv = self.fixed_logvar
        return lv.view(1, -1, 1, 1)

    def params(self, z: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Gaussian: {"mean" (B, C, H, W) in [-1, 1], "logvar" (1, C, 1, 1)}; cbernoulli: {"logits" (B, C, H, W)} for x01."""
        h = self._head(z, y)
        if self.likelihood == "cbernoulli":
            return {"logits": h}
        return {"mean": torch.tanh(h), "logvar": self.logvar()}

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The mean of p(x | z, y) in [-1, 1] (what samples and reconstructions show)."""
        p = self.params(z, y)
        if self.likelihood == "cbernoulli":
            return cbernoulli_mean(p["logits"])  # not 2σ(λ)−1: the CB mean is pulled towards 0.5
        return p["mean"]
