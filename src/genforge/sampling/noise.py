"""Per-sample noise (DESIGN §2a): sample *i* of a request with seed *S* draws from its own generator.

The generator of sample i is seeded by a hash of (S, i), not S + i, so seed S+1 shares no noise with
seed S. Because each sample owns its generator, batching never changes the noise a sample gets and any
sample can be regenerated alone: ``SampleNoise(S, [i])`` draws exactly what sample i drew in a batch.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch


def sample_seed(seed: int, index: int) -> int:
    """The 63-bit seed of sample ``index`` of a request with ``seed`` (SHA-256 of both, so neighbours are unrelated)."""
    digest = hashlib.sha256(f"genforge-sample\0{int(seed)}\0{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class SampleNoise:
    """One torch.Generator per sample; every draw returns (n, *shape) with row k from sample k's generator."""

    def __init__(self, seed: int, indices: Sequence[int] | int, device: torch.device | str = "cpu") -> None:
        indices = range(indices) if isinstance(indices, int) else indices
        self.device = torch.device(device)
        self.indices = [int(i) for i in indices]
        self.generators = [torch.Generator(self.device).manual_seed(sample_seed(seed, i)) for i in self.indices]

    def __len__(self) -> int:
        return len(self.generators)

    def part(self, start: int, stop: int) -> SampleNoise:
        """The noise of samples start..stop-1 (sharing their generators: drawing from the part advances them)."""
        out = SampleNoise.__new__(SampleNoise)
        out.device, out.indices, out.generators = self.device, self.indices[start:stop], self.generators[start:stop]
        return out

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal noise (n, *shape), in float32 on this noise's device."""
        if not self.generators:
            return torch.zeros((0, *shape), device=self.device)
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.generators])

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) noise (n, *shape)."""
        if not self.generators:
            return torch.zeros((0, *shape), device=self.device)
        return torch.stack([torch.rand(shape, generator=g, device=self.device) for g in self.generators])
