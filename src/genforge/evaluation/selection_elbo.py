"""``val_elbo``: the mean ELBO per validation image (nats, higher is better), the VAE families' selection metric.

Unlike the Fréchet selections it needs no samples, only the encoder and decoder: one reparameterised draw
per image from a generator seeded alike at every evaluation, so two checkpoints are compared on the same
noise. It also counts the active units (Burda et al. 2016, §5.2): latent dimensions whose posterior mean
varies across the images (Cov_x E_q[z_i] > 0.01); the others have collapsed onto the prior.
"""
from __future__ import annotations

import math
import time

import torch

from genforge.core.registry import SELECTION_METRICS
from genforge.data.prepare import PreparedData
from genforge.data.transforms import to_unit
from genforge.training.objectives.vae_losses import active_units, bits_per_dim
from genforge.training.vae import elbo_per_image, pair_of


@SELECTION_METRICS.register("val_elbo")
class ValELBO:
    higher_is_better = True
    name = "val_elbo"

    def __init__(self, data: PreparedData, n_samples: int, seed: int, log=print) -> None:
        real = data.val if len(data.val) else data.train
        # a seeded subset, not the first n: a split may be stored class by class (MNIST's is)
        pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[: min(n_samples, len(real))]
        self.x = to_unit(real.x[pick])                                           # (n, C, H, W) in [-1, 1]
        self.y = None if real.y is None else real.y[pick]
        self.dims = self.x[0].numel()
        self.seed, self.log = seed, log
        self.last_seconds = 0.0
        self.last_extra: dict[str, float] = {}

    def __call__(self, sample_fn, networks) -> float:
        """Mean ELBO per image of the held-out images under ``networks`` (``sample_fn`` is not needed)."""
        t0 = time.perf_counter()
        enc, dec = pair_of(networks, "the val_elbo selection metric")
        g = torch.Generator(device=next(enc.parameters()).device).manual_seed(self.seed)
        elbo, mu = elbo_per_image(enc, dec, self.x, self.y, g)                   # (n,), (n, z_dim)
        value = float(elbo.mean())
        self.last_extra = {"active_units": active_units(mu) if len(mu) >= 2 else 0,
                           "bpd": float(bits_per_dim(-elbo.mean(), self.dims))}
        if not math.isfinite(value):
            # the Trainer ranks a non-finite value worst; −inf says so in the log instead of a NaN or a +inf "best"
            self.log(f"warning: val_elbo is {value} (the model produced a non-finite likelihood); counted as the worst")
            value = -math.inf
        self.last_seconds = time.perf_counter() - t0
        return value
