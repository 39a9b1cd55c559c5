"""A compact class-conditional U-Net for ε-prediction on small images (Ho et al. 2020; Nichol & Dhariwal 2021).

Layout (28x28, width w, mults (1, 2, 2), one res block per level):

    conv_in  ->  [Res w]@28 -> down -> [Res 2w]@14 -> down -> [Res 2w + Attn]@7
             ->  middle: Res + Attn + Res @7
             ->  [Res+Attn]x2 @7 -> up -> [Res]x2 @14 -> up -> [Res]x2 @28  ->  GN, SiLU, conv_out

Every encoder output is kept as a skip; each decoder res block consumes one (concatenated on channels).

Sizes that do not halve (28 -> 14 -> 7, 12 -> 6 -> 3): a level downsamples only when its size is even
and the half is still >= 4; otherwise the next level runs at the same size (all levels are kept, so
the parameter count does not depend on the image size). Upsampling is nearest-neighbour to the exact
size of the skip it meets, so no size arithmetic can drift (8, 12, 28, 30, 32 all work); it has no conv
of its own (improved-diffusion's conv_resample=False), which saves ~19 % of the FLOPs at 28x28.

Attention is placed by pixel resolution: after every res block whose feature map is r x r with r in
``attention_resolutions``, and in the middle block when the bottleneck is. With the default (7,) a
28x28 net attends only at 7x7 (49 tokens, cheap); a 32x32 or 8x8 net (no 7x7 map) is fully
convolutional. ``self.attention_at`` lists where attention actually is.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genforge.core.errors import ConfigError


class UNetConfigError(ConfigError, ValueError):
    """Bad U-Net arguments: a ValueError for Python callers, a ConfigError (one-line message) for the CLI."""


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps (Vaswani et al. 2017 §3.5; Ho et al. 2020 App. B).

    PE(t)_i = sin(t·ω_i) for the first half, cos(t·ω_i) for the second, ω_i = max_period^(-i/half).
    """
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * omega[None]                                  # (B, half)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)             # (B, 2·half)
    return F.pad(emb, (0, dim - 2 * half))                                     # odd dim: one zero column


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> (+ emb | FiLM) -> GN -> SiLU -> dropout -> conv3x3, plus a (1x1) shortcut.

    With ``scale_shift`` the embedding modulates the second norm, h = GN(h)·(1 + s) + b (Nichol &
    Dhariwal 2021, "AdaGN"); otherwise it is added as a per-channel bias (Ho et al. 2020).
    """

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float, scale_shift: bool) -> None:
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * c_out if scale_shift else c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))                                   # (B, c_out, H, W)
        e = self.emb(F.silu(emb))[:, :, None, None]                             # (B, c_out or 2·c_out, 1, 1)
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.shortcut(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the H·W positions, residual (Ho et al. 2020 use it at 16x16)."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, c, hgt * wid).transpose(2, 3)  # (B, 3, HW, C)
        q, k, v = qkv.unbind(1)
        h = F.scaled_dot_product_attention(q, k, v)                              # softmax(QKᵀ/√C)·V, (B, HW, C)
        return x + self.proj(h.transpose(1, 2).reshape(b, c, hgt, wid))


class Downsample(nn.Module):
    """3x3 conv, stride 2 (Ho et al. 2020): H -> H/2 for even H."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Stage(nn.Module):
    """A res block, optionally followed by self-attention."""

    def __init__(self, block: ResBlock, attention: SelfAttention | None) -> None:
        super().__init__()
        self.block, self.attention = block, attention

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.block(x, emb)
        return self.attention(h) if self.attention is not None else h


def _check(channels: int, image_size: int, width: int, mults: tuple[int, ...], res_blocks: int, num_classes: int,
           dropout: float, groups: int) -> None:
    """Reject arguments the network cannot be built from, with a message that says the fix."""
    if channels < 1:
        raise UNetConfigError(f"UNet channels must be >= 1 (1 grayscale, 3 RGB), got {channels}")
    if not 8 <= image_size <= 256:
        raise UNetConfigError(f"UNet image_size must be in 8..256, got {image_size}; resize the data (e.g. 32)")
    if not mults or any(m < 1 for m in mults):
        raise UNetConfigError(f"UNet mults must be a non-empty tuple of positive ints, got {mults}; e.g. (1, 2, 2)")
    if res_blocks < 1 or num_classes < 0 or groups < 1 or not 0.0 <= dropout < 1.0:
        raise UNetConfigError(f"UNet needs res_blocks >= 1, num_classes >= 0, groups >= 1 and 0 <= dropout < 1; got "
                              f"res_blocks={res_blocks}, num_classes={num_classes}, groups={groups}, dropout={dropout}")
    bad = [width * m for m in (1, *mults) if width * m % groups]
    if width < 1 or bad:
        fix = max(groups, round(width / groups) * groups)
        raise UNetConfigError(f"UNet width {width} with mults {mults} gives channel counts {bad} not divisible by "
                              f"GroupNorm groups={groups}; use width={fix} or groups dividing {width}")


class UNet(nn.Module):
    """ε_θ(x_t, t, y): (B, C, H, W) noisy images, (B,) timesteps, (B,) labels -> (B, C, H, W).

    Conditioning: emb = MLP(PE(t)) + E[y], fed to every res block. With ``num_classes`` K > 0 the label
    table has K + 1 rows; row K (``self.null_class``) is "no label", which classifier-free guidance
    trains on by label dropout and uses for the unconditional branch (Ho & Salimans 2022).
    """

    def __init__(self, channels: int, image_size: int, width: int = 32, mults: tuple[int, ...] = (1, 2, 2),
                 res_blocks: int = 1, attention_resolutions: tuple[int, ...] = (7,), num_classes: int = 0,
                 dropout: float = 0.0, groups: int = 8, scale_shift: bool = True) -> None:
        super().__init__()
        mults = tuple(mults)
        _check(channels, image_size, width, mults, res_blocks, num_classes, dropout, groups)
        self.channels, self.image_size = channels, image_size
        self.num_classes, self.null_class = num_classes, num_classes
        emb_dim = 4 * width
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes > 0 else None
        attend = set(attention_resolutions)

        def stage(c_in: int, c_out: int, res: int) -> Stage:
            attention = SelfAttention(c_out, groups) if res in attend else None
            return Stage(ResBlock(c_in, c_out, emb_dim, groups, dropout, scale_shift), attention)

        # Encoder: every module's output is a skip, recorded as (channels, resolution, level).
        self.conv_in = nn.Conv2d(channels, width, 3, padding=1)
        skips, ch, res = [(width, image_size, 0)], width, image_size
        self.encoder = nn.ModuleList()
        for level, mult in enumerate(mults):
            for _ in range(res_blocks):
                self.encoder.append(stage(ch, width * mult, res))
                ch = width * mult
                skips.append((ch, res, level))
            if level < len(mults) - 1 and res % 2 == 0 and res // 2 >= 4:
                self.encoder.append(Downsample(ch))
                res //= 2
                skips.append((ch, res, level + 1))  # this skip is met by the next level's decoder blocks
        self.middle = nn.ModuleList([stage(ch, ch, res), stage(ch, ch, -1)])  # Res+Attn, Res
        self.attention_at = sorted({r for _, r, _ in skips if r in attend})

        # Decoder: one stage per skip, popped in reverse (upsampling happens in forward, parameter-free).
        self.decoder = nn.ModuleList()
        for skip_ch, skip_res, level in reversed(skips):
            self.decoder.append(stage(ch + skip_ch, width * mults[level], skip_res))
            ch = width * mults[level]
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, channels, 3, padding=1)
        # Zero init: the untrained net predicts ε̂ = 0, so the first loss is E‖ε‖² = 1 rather than the
        # noise of a random head, and the early updates shape the features instead of undoing the head
        # (Nichol & Dhariwal 2021, zero_module). Gradients still reach conv_out itself on step one.
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def embed(self, t: torch.Tensor, y: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B,) timesteps and labels -> (B, 4·width) conditioning vector."""
        t = t.expand(batch) if t.ndim == 0 else t
        emb = self.time_mlp(timestep_embedding(t, self.width))
        if self.label_emb is None:
            if y is not None:
                raise UNetConfigError("this UNet is unconditional (num_classes=0) but got labels y; pass y=None "
                                      "or build it with num_classes=K")
            return emb
        if y is None:  # unconditional call on a conditional net: the null class
            y = torch.full((batch,), self.null_class, dtype=torch.long, device=emb.device)
        return emb + self.label_emb(y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.embed(t, y, x.shape[0])                                       # (B, 4w)
        h = self.conv_in(x)
        hs = [h]
        for module in self.encoder:
            h = module(h, emb) if isinstance(module, Stage) else module(h)
            hs.append(h)
        for module in self.middle:
            h = module(h, emb)
        for module in self.decoder:
            h = module(torch.cat([h, hs.pop()], dim=1), emb)
            if hs and hs[-1].shape[-2:] != h.shape[-2:]:
                # Nearest to the skip's exact size (7 -> 14, 3 -> 6 -> 12 all land); no conv here: the next
                # res block's 3x3 conv follows at once, and a conv at full size would cost ~19 % of the FLOPs.
                h = F.interpolate(h, size=hs[-1].shape[-2:], mode="nearest")
        return self.conv_out(F.silu(self.norm_out(h)))                           # (B, C, H, W)
