"""Image grids and PNG files that carry their provenance in tEXt chunks."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, PngImagePlugin


def make_grid(images: torch.Tensor, nrow: int, pad: int = 2) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (C, rows·(H+pad)+pad, nrow·(W+pad)+pad), row-major."""
    n, c, h, w = images.shape
    rows = max(math.ceil(n / nrow), 1)
    grid = torch.zeros(c, rows * (h + pad) + pad, nrow * (w + pad) + pad, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def save_png(grid: torch.Tensor, path: Path, text: dict[str, str] | None = None, scale: int = 1) -> None:
    """Save a uint8 (C, H, W) image as PNG with tEXt chunks; nearest-neighbour upscaling by ``scale``."""
    arr = grid.permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr, mode="L" if arr.shape[2] == 1 else "RGB")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    info = PngImagePlugin.PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, str(v))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    img.save(tmp, format="PNG", pnginfo=info)
    tmp.replace(path)


def read_png_text(path: Path) -> dict[str, str]:
    with Image.open(path) as img:
        return dict(getattr(img, "text", {}) or {})
