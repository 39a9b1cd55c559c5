"""DiffAugment (Zhao et al. 2020): the same differentiable augmentation on real and fake images
before the discriminator, so D cannot memorise a small dataset. All randomness from a generator."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(shape, g: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(shape, generator=g, device=g.device).to(like.device)


def color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand((b, 1, 1, 1), g, x) - 0.5)  # brightness
    if x.shape[1] == 3:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (_rand((b, 1, 1, 1), g, x) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand((b, 1, 1, 1), g, x) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio·size pixels, filling with zeros."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = (torch.randint(-sh, sh + 1, (b, 1, 1), generator=g, device=g.device)).to(x.device)
    tx = (torch.randint(-sw, sw + 1, (b, 1, 1), generator=g, device=g.device)).to(x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + ty + 1).clamp(0, h + 1)  # (B, H, W) indices into the zero-padded image
    gx = (gx[None] + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (B, H+2, W+2, C)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded[batch, gy, gx].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of side ratio·size at a random place in each image."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - sh % 2), (b, 1), generator=g, device=g.device).to(x.device)
    cx = torch.randint(0, w + (1 - sw % 2), (b, 1), generator=g, device=g.device).to(x.device)
    rows = torch.arange(h, device=x.device)[None]
    cols = torch.arange(w, device=x.device)[None]
    in_y = (rows >= cy - sh // 2) & (rows < cy - sh // 2 + sh)  # (B, H)
    in_x = (cols >= cx - sw // 2) & (cols < cx - sw // 2 + sw)  # (B, W)
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], g: torch.Generator) -> torch.Tensor:
    for name in policy:
        x = OPS[name](x, g)
    return x
