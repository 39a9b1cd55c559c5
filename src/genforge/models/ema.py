"""Exponential moving average of a network's weights (used for sampling by default)."""
from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(net: nn.Module) -> nn.Module:
    ema = copy.deepcopy(net)
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, net: nn.Module, decay: float, step: int) -> None:
    """θ_ema ← d·θ_ema + (1-d)·θ with d warmed up as min(decay, (1+step)/(10+step)); buffers copied."""
    d = min(decay, (1 + step) / (10 + step))
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - d)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.copy_(b)
