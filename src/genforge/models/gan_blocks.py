"""Generator and discriminator building blocks shared by the GAN families (dcgan, cgan).

Sized for the CPU: a 28x28 generator has ~0.5M parameters. The resolution ladder starts at
s0 in [3, 7] and doubles k times (28 = 7·2², 32 = 4·2³, 64 = 4·2⁴, 8 = 4·2).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from genforge.core.errors import ConfigError


def ladder(size: int) -> tuple[int, int]:
    """image size -> (start resolution s0, number of doublings k)."""
    s, k = size, 0
    while s > 7 and s % 2 == 0:
        s, k = s // 2, k + 1
    if s < 3 or k == 0 or s > 7:
        raise ConfigError(
            f"image size {size} is not supported by the GAN networks (needs s·2^k with s in 3..7, k ≥ 1, "
            "e.g. 8, 16, 28, 32, 64); set --set data.image_size=32"
        )
    return s, k


def maybe_sn(module: nn.Module, use: bool) -> nn.Module:
    return spectral_norm(module) if use else module


class ConditionalBatchNorm(nn.Module):
    """BatchNorm whose gain and bias are linear in a conditioning vector (de Vries et al. 2017).

    The generator conditions on [shared class embedding, z] ("skip-z", Brock et al. 2019), so the
    noise reaches every resolution and cannot be ignored; with ``cond_dim == 0`` it is plain BN.
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        self.gain = nn.Linear(cond_dim, channels) if cond_dim else None
        self.bias = nn.Linear(cond_dim, channels) if cond_dim else None
        for lin in (self.gain, self.bias):
            if lin is not None:  # start as plain BN: gain 1, bias 0
                nn.init.zeros_(lin.weight)
                nn.init.zeros_(lin.bias)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(h)
        if self.gain is None:
            return h
        return h * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class UpBlock(nn.Module):
    """(cond) BN -> ReLU -> 4x4 transposed conv, stride 2 (Radford et al. 2016; cheaper on a CPU
    than nearest upsample + 3x3 conv)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = ConditionalBatchNorm(c_in, cond_dim)
        self.conv = nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return self.conv(F.relu(self.norm(h, cond)))


class Generator(nn.Module):
    """z (B, z_dim) [+ class y (B,)] -> image (B, C, H, W) in [-1, 1].

    Widths halve at each doubling: 28x28 with width w is 2w@7x7 -> w@14x14 -> C@28x28.
    """

    def __init__(self, z_dim: int, channels: int, size: int, width: int, num_classes: int = 0, embed_dim: int = 32) -> None:
        super().__init__()
        self.z_dim, self.num_classes = z_dim, num_classes
        self.s0, k = ladder(size)
        widths = [width * 2 ** (k - 1 - i) for i in range(k)] + [channels]  # e.g. 64, 32, 1
        cond_dim = z_dim + embed_dim if num_classes else 0
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        self.fc = nn.Linear(z_dim + (embed_dim if num_classes else 0), widths[0] * self.s0 * self.s0)
        self.blocks = nn.ModuleList(UpBlock(widths[i], widths[i + 1], cond_dim) for i in range(k))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cond = None
        if self.embed is not None:
            assert y is not None, "a conditional generator needs labels"
            cond = torch.cat([z, self.embed(y)], dim=1)  # (B, z_dim + embed_dim)
        h = self.fc(z if cond is None else cond).view(z.shape[0], -1, self.s0, self.s0)  # (B, C0, s0, s0)
        for block in self.blocks:
            h = block(h, cond)
        return torch.tanh(h)


class Discriminator(nn.Module):
    """image [+ class] -> score (B,). Projection discriminator when conditional (Miyato & Koyama 2018):
    D(x, y) = ψ(φ(x)) + embed(y)·φ(x)."""

    def __init__(self, channels: int, size: int, width: int, num_classes: int = 0, sn: bool = True, aux_classifier: bool = False) -> None:
        super().__init__()
        _, k = ladder(size)
        layers: list[nn.Module] = []
        c_in, c = channels, width
        for _ in range(k):  # 4x4 stride-2 convolutions down to s0
            layers += [maybe_sn(nn.Conv2d(c_in, c, 4, stride=2, padding=1), sn), nn.LeakyReLU(0.1)]
            c_in, c = c, c * 2
        layers += [maybe_sn(nn.Conv2d(c_in, c, 3, stride=2, padding=1), sn), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.linear = maybe_sn(nn.Linear(c, 1), sn)
        self.embed = maybe_sn(nn.Embedding(num_classes, c), sn) if num_classes else None
        # AC-GAN head (Odena et al. 2017): class logits from the same features, when enabled
        self.classifier = nn.Linear(c, num_classes) if (aux_classifier and num_classes) else None

    def scores_and_logits(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        phi = self.features(x).sum(dim=(2, 3))  # (B, c): global sum pooling
        out = self.linear(phi).squeeze(1)
        if self.embed is not None:
            assert y is not None, "a conditional discriminator needs labels"
            out = out + (self.embed(y) * phi).sum(dim=1)
        return out, (self.classifier(phi) if self.classifier is not None else None)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.scores_and_logits(x, y)[0]
