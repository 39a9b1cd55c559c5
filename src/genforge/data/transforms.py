"""The few image transforms genforge needs (torchvision is not a dependency)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genforge.core.errors import DataError


MAX_RESIZED_BYTES = 8 << 30  # the resized images of a whole dataset (as for decoded image folders)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, C, size, size): center-crop to a square (as image folders are), then PIL's
    antialiased Lanczos filter.

    The filter matters for metrics (Parmar et al. 2022, "clean-fid"): Lanczos with antialiasing
    is stated in every metric's provenance. The output size is checked before it is allocated.
    """
    n, c, h, w = x.shape
    total = n * c * size * size
    if total > MAX_RESIZED_BYTES:
        raise DataError(f"resizing {n} images to {size}x{size} would take {total / 2**30:.1f} GiB, over the "
                        f"{MAX_RESIZED_BYTES >> 30} GiB limit; choose a smaller data.image_size or use fewer images")
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    x = x[:, :, top : top + side, left : left + side]
    if side == size:
        return x.contiguous()
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for i, img in enumerate(x.numpy()):
        for ch in range(c):
            pil = Image.fromarray(np.ascontiguousarray(img[ch])).resize((size, size), Image.Resampling.LANCZOS)
            out[i, ch] = np.asarray(pil)
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
