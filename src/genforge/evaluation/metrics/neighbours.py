"""Euclidean distances in row blocks, so k-NN metrics on 10k × 10k sets fit in bounded memory.

Shared by PRDC and memorisation. Float64 throughout: radii are compared with ``<=``, and float32
rounding would move points across manifold boundaries.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

# One block of the distance matrix holds at most this many float64 entries (2²³ × 8 B = 64 MiB).
BLOCK_ELEMENTS = 2**23


def as_tensor(features: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(features, dtype=np.float64))


def distance_blocks(a: torch.Tensor, b: torch.Tensor,
                    max_elements: int = BLOCK_ELEMENTS) -> Iterator[torch.Tensor]:
    """Yield ‖a_i − b_j‖ for consecutive row blocks of a: each block is (rows, len(b))."""
    rows = max(1, max_elements // max(1, len(b)))
    for start in range(0, len(a), rows):
        yield torch.cdist(a[start:start + rows], b)


def kth_neighbour_distance(x: torch.Tensor, k: int, max_elements: int = BLOCK_ELEMENTS) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest *other* row of x: (N,)."""
    assert 1 <= k < len(x), f"k={k} needs at least {k + 1} points, got {len(x)}"
    # the (k+1)-th smallest, because each point is its own nearest neighbour at distance 0
    return torch.cat([d.kthvalue(k + 1, dim=1).values for d in distance_blocks(x, x, max_elements)])


def nearest(a: torch.Tensor, b: torch.Tensor,
            max_elements: int = BLOCK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of the nearest row of b for each row of a: two (len(a),) tensors."""
    found = [d.min(dim=1) for d in distance_blocks(a, b, max_elements)]
    return torch.cat([f.values for f in found]), torch.cat([f.indices for f in found])
