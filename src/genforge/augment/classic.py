"""Classic augmentation for the downstream classifier: a random affine map per image, of one strength,
optionally followed by an elastic distortion of the same strength.

Strength s in [0, 1] scales every range at once: rotation up to ±20°·s, scale 1 ± 0.2·s, shear up to
±15°·s, translation up to ±12 %·s of the side. Elastic (Simard et al. 2003, who found small affine and
elastic distortions the most useful augmentation for digits): every pixel gets a random displacement,
uniform in [-1, 1] per axis, smoothed by a Gaussian of σ = 4 px and scaled by α = 34·s px (both at a
28-pixel side, and in proportion to the side otherwise). Both maps are applied in one resampling.
Strength 0 is the identity. Strength and elastic on/off are chosen on the validation split like every
other knob of `genforge augment`. Pixels moved in from outside take the background value -1 (black in
[-1, 1] images).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATE, MAX_SCALE, MAX_SHEAR, MAX_SHIFT = 20.0, 0.2, 15.0, 0.12
ELASTIC_ALPHA, ELASTIC_SIGMA, ELASTIC_SIDE = 34.0, 4.0, 28  # pixels at a 28-pixel side (Simard et al. 2003)


def affine_matrices(n: int, strength: float, g: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) sampling matrices for ``F.affine_grid`` (output -> input coordinates in [-1, 1])."""
    u = torch.rand(n, 5, generator=g, dtype=torch.float64) * 2 - 1  # five independent draws in [-1, 1]
    rot = u[:, 0] * math.radians(MAX_ROTATE) * strength
    scale = 1 + u[:, 1] * MAX_SCALE * strength
    shear = u[:, 2] * math.radians(MAX_SHEAR) * strength
    tx, ty = u[:, 3] * 2 * MAX_SHIFT * strength, u[:, 4] * 2 * MAX_SHIFT * strength  # the side spans 2 units
    cos, sin = torch.cos(rot), torch.sin(rot)
    # rotation · shear (x by y), divided by the scale: the grid maps output pixels back into the input
    a = torch.stack([torch.stack([cos, cos * torch.tan(shear) - sin], 1),
                     torch.stack([sin, sin * torch.tan(shear) + cos], 1)], 1) / scale.view(-1, 1, 1)
    return torch.cat([a, torch.stack([tx, ty], 1).unsqueeze(2)], 2).float()


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of ±3σ (at least 3 taps)."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).float()


def elastic_offsets(n: int, h: int, w: int, strength: float, g: torch.Generator) -> torch.Tensor:
    """(n, h, w, 2) displacements in ``grid_sample`` units (x, y): smoothed uniform noise scaled by α·strength.
    The noise is drawn on a canvas wider by the kernel's reach and blurred without padding, so the edges are
    as smooth as the middle."""
    scale = min(h, w) / ELASTIC_SIDE
    k = gaussian_kernel(ELASTIC_SIGMA * scale)
    r = len(k) // 2
    d = torch.rand(n * 2, 1, h + 2 * r, w + 2 * r, generator=g) * 2 - 1
    d = F.conv2d(F.conv2d(d, k.view(1, 1, 1, -1)), k.view(1, 1, -1, 1))  # separable blur: (n*2, 1, h, w)
    d = d.view(n, 2, h, w) * (ELASTIC_ALPHA * scale * strength)
    # align_corners=False: the side spans 2 units, so d pixels are 2d/W (x) and 2d/H (y)
    return torch.stack([d[:, 0] * 2 / w, d[:, 1] * 2 / h], dim=-1)


def classic_augment(x: torch.Tensor, strength: float, elastic: bool, g: torch.Generator) -> torch.Tensor:
    """x in [-1, 1], (B, C, H, W) -> the same images, each moved by its own random affine map (and elastic
    distortion when ``elastic``)."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"augmentation strength must be in [0, 1], got {strength}")
    if strength == 0.0:
        return x
    theta = affine_matrices(len(x), strength, g)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic:
        grid = grid + elastic_offsets(len(x), x.shape[2], x.shape[3], strength, g)
    # shift to background 0 so that zero padding is background, then back
    return F.grid_sample(x + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0


def random_affine(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """``classic_augment`` without the elastic part."""
    return classic_augment(x, strength, False, g)
