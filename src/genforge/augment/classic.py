"""Classic augmentation for the downstream classifier: a random affine map per image, of one strength.

Strength s in [0, 1] scales every range at once: rotation up to ±20°·s, scale 1 ± 0.2·s, shear up to
±15°·s, translation up to ±12 %·s of the side (Simard et al. 2003 found such small affine and elastic
distortions the most useful augmentation for digits; elastic maps are not implemented). Strength 0 is
the identity. The strength is chosen on the validation split like every other knob of `genforge
augment`. Pixels moved in from outside take the background value -1 (black in [-1, 1] images).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_ROTATE, MAX_SCALE, MAX_SHEAR, MAX_SHIFT = 20.0, 0.2, 15.0, 0.12


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


def random_affine(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """x in [-1, 1], (B, C, H, W) -> the same images, each moved by its own random affine map."""
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"augmentation strength must be in [0, 1], got {strength}")
    if strength == 0.0:
        return x
    theta = affine_matrices(len(x), strength, g)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # shift to background 0 so that zero padding is background, then back
    return F.grid_sample(x + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1.0
