"""Convolutional VAE (Kingma & Welling 2014) and conditional VAE (Sohn et al. 2015) networks, the families'
`model` config section and build functions, and the two uses of a trained pair: reconstruct, interpolate.
(The training task, the ELBO and the vae/cvae declarations are in training/vae.py.)

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
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from genforge.core.config import MAX_STEPS, Latent, ModelSection, Width
from genforge.core.errors import ConfigError, did_you_mean
from genforge.data.imageset import DataInfo

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


# ---------------------------------------------------------------- the families' config section and networks


class VAEConfig(ModelSection):
    """The `model` section of the vae and cvae families.

    Defaults from a 3-minute CPU trial on MNIST (cvae, ~800-1300 steps): a Gaussian decoder with a learned σ
    starting at 0.2 and z_dim 8 gave recognisable, class-following digits. The continuous Bernoulli reached a far
    better ELBO (2.3-2.5 bits/dim against 7.3: near-binary pixels suit it) but its prior samples were mostly
    unrecognisable: its sharp likelihood makes the KL cheap, so z encodes everything, the class included, and
    the prior falls between the posteriors. z_dim 16 did the same with either likelihood (the label was ignored).
    """

    name: Literal["vae", "cvae"] = "vae"
    z_dim: Latent = 8
    width: Width = 32  # encoder channels after the first stride-2 conv (doubling per halving); the decoder mirrors it
    embed_dim: Latent = 16  # class embedding size on each side (cvae)
    likelihood: Literal["gaussian", "gaussian_fixed", "cbernoulli"] = "gaussian"
    fixed_std: float = Field(0.2, gt=0.0, le=1.0)  # σ of gaussian_fixed, and the start of gaussian's learned σ ([-1, 1] units)
    beta: float = Field(1.0, ge=0.0, le=1000.0)  # weight of the KL term once warmed up (β-VAE, Higgins et al. 2017)
    kl_warmup_steps: Annotated[int, Field(ge=0, le=MAX_STEPS)] = 500  # linear KL warm-up from 0 to β


def _pair(cfg: VAEConfig, info: DataInfo, num_classes: int) -> dict[str, nn.Module]:
    return {
        "encoder": Encoder(info.channels, info.image_size, cfg.width, cfg.z_dim, num_classes, cfg.embed_dim),
        "decoder": Decoder(cfg.z_dim, info.channels, info.image_size, cfg.width, num_classes, cfg.embed_dim,
                           likelihood=cfg.likelihood, fixed_std=cfg.fixed_std),
    }


def build_vae(cfg: VAEConfig, info: DataInfo) -> dict[str, nn.Module]:
    return _pair(cfg, info, 0)


def build_cvae(cfg: VAEConfig, info: DataInfo) -> dict[str, nn.Module]:
    if info.num_classes < 2:
        raise ConfigError("cvae needs class labels (an image folder with one subfolder per class, or .npz with 'y'); "
                          "use --model vae for unlabelled data")
    return _pair(cfg, info, info.num_classes)


# ---------------------------------------------------------------- using a trained pair


@torch.no_grad()
def reconstruct(encoder: Encoder, decoder: Decoder, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """x̂ = E[p(x | z = μ(x, y), y)]: images (B, C, H, W) in [-1, 1] -> their reconstructions, same shape.

    The posterior mean instead of a sample: the reconstruction a reader expects, with no noise to seed.
    ``y`` is ignored by an unconditional pair.
    """
    y = y if encoder.num_classes else None
    mu, _ = encoder(x, y)
    return decoder(mu, y)


@torch.no_grad()
def interpolate(decoder: Decoder, z0: torch.Tensor, z1: torch.Tensor, y: int | torch.Tensor | None = None,
                steps: int = 8) -> torch.Tensor:
    """Decoder means along the great circle from z0 to z1 (each (z_dim,)): (steps, C, H, W) in [-1, 1].

    Spherical rather than linear (White 2016, "Sampling generative networks"): under N(0, I) a linear
    midpoint has a norm far below the typical √z_dim, so it decodes to an atypical, washed-out image.
    slerp(z0, z1; t) = sin((1−t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1, cos Ω = ẑ0·ẑ1.
    """
    if steps < 2:
        raise ConfigError(f"interpolation needs at least 2 steps, got {steps}")
    z0, z1 = z0.reshape(-1).float(), z1.reshape(-1).float()
    t = torch.linspace(0, 1, steps, device=z0.device).unsqueeze(1)  # (steps, 1)
    cos = (F.normalize(z0, dim=0) * F.normalize(z1, dim=0)).sum().clamp(-1, 1)
    omega = torch.arccos(cos)
    if torch.sin(omega).abs() < 1e-4:  # (anti)parallel ends: sin Ω ≈ 0, so fall back to the chord
        z = (1 - t) * z0 + t * z1
    else:
        z = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)  # (steps, z_dim)
    if decoder.num_classes and y is None:
        raise ConfigError("a conditional VAE interpolates within one class; pass a label")
    labels = None if not decoder.num_classes else torch.as_tensor(y, device=z.device).reshape(-1).expand(steps)
    return decoder(z, labels)
