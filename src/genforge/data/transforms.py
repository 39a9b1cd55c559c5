"""The few image transforms genforge needs (torchvision is not a dependency)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size) with PIL's antialiased Lanczos filter.

    The filter matters for metrics (Parmar et al. 2022, "clean-fid"): Lanczos with antialiasing
    is stated in every metric's provenance.
    """
    out = np.empty((len(x), x.shape[1], size, size), dtype=np.uint8)
    for i, img in enumerate(x.numpy()):
        for c in range(img.shape[0]):
            pil = Image.fromarray(img[c]).resize((size, size), Image.Resampling.LANCZOS)
            out[i, c] = np.asarray(pil)
    return torch.from_numpy(out)


def median3(x: torch.Tensor) -> torch.Tensor:
    """3x3 median filter per channel (light denoising of salt-and-pepper noise); uint8 in and out."""
    n, c, h, w = x.shape
    padded = F.pad(x.float().reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    patches = F.unfold(padded, kernel_size=3)  # (N*C, 9, H*W)
    return patches.median(dim=1).values.reshape(n, c, h, w).to(torch.uint8)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float in [-1, 1] (the generators' output range)."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 (rounded, clamped)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
