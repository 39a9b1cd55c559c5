"""A model family's declaration: everything above the building blocks talks to this, never to a family.

The Trainer, ``api.load``/``sample``, evaluation and the privacy audit read a family only through its
``ModelSpec`` (DESIGN §2a): which networks it builds, which one generates and how it is sampled,
which task trains it, which cheap metric selects its checkpoints, and which network (if any) scores
realness for the membership attack.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genforge.core.config import ModelSection, OptimizerSettings
from genforge.core.errors import ConfigError
from genforge.core.registry import SAMPLERS
from genforge.data.imageset import DataInfo
from genforge.sampling.noise import SampleNoise
from genforge.sampling.request import FLAGS, SampleRequest, check_values

# (network, resolved request, labels or None, per-sample noise) -> images in [-1, 1], (n, C, H, W).
# Pure: every random draw comes from ``noise`` (row k from sample k's own generator).
FamilySampler = Callable[[nn.Module, SampleRequest, "torch.Tensor | None", SampleNoise], torch.Tensor]

SAMPLE_BATCH = 256  # samples per forward pass; batching never changes a sample's noise


@dataclass(frozen=True)
class SamplingSpec:
    """The sampling request fields a family reads, with their defaults; the first sampler is the default."""

    samplers: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # cheaper settings for in-training sampling (selection metric, grids): checkpoint selection stays cheap
    during_training: Mapping[str, Any] = field(default_factory=dict)
    # the largest `sample_steps` a trained network allows (its schedule length); None: no step count
    max_steps: Callable[[nn.Module], int] | None = None

    def resolve(self, request: SampleRequest | None, family: str, conditional: bool) -> SampleRequest:
        """The request with every field this family reads filled in; a clear error for a field it does not read."""
        request = request or SampleRequest()
        check_values(request)
        if request.guidance is not None and not conditional:
            raise ConfigError(f"--guidance needs a class-conditional model; this {family} run is unconditional")
        accepted = {"sampler", *self.defaults}
        extra = sorted(set(request.given()) - accepted)
        if extra:
            valid = ", ".join(FLAGS[k] for k in sorted(accepted))
            raise ConfigError(f"{FLAGS[extra[0]]} does not apply to {family} (its sampling options: {valid})")
        if request.sampler is not None and request.sampler not in self.samplers:
            raise ConfigError(f"unknown sampler '{request.sampler}' for {family}; valid: {', '.join(self.samplers)}")
        defaults = {"sampler": self.samplers[0], **self.defaults}
        if not conditional:  # an unconditional model is not guided: its provenance must not claim a guidance scale
            defaults = {k: v for k, v in defaults.items() if k not in ("guidance", "guidance_interval")}
        return request.merged(defaults)


# (the checkpoint's networks by name, images in [-1, 1], labels or None, generator) -> (n,) membership
# scores, higher = more likely a training image (a discriminator's score, the ELBO, minus a denoising loss)
MembershipScore = Callable[[dict[str, nn.Module], torch.Tensor, "torch.Tensor | None", torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelSection, DataInfo], dict[str, nn.Module]]  # every network, by name
    task: str  # the training task (TASKS registry) that trains these networks; train.task="auto" uses it
    # needs class labels (True), never uses them (False), or follows the data: class-conditional when it has labels (None)
    conditional: bool | None
    sample_net: str  # the network that generates (its EMA copy, saved as "ema", is used when present)
    sample: FamilySampler  # one forward chunk of sampling, given the resolved request
    sampling: SamplingSpec  # the request fields the family reads, its samplers and defaults
    # the default selection metric (SELECTION_METRICS; each declares its direction); train.selection_metric="auto"
    selection_metric: str
    # the network that scores how real an image looks, net(x) or net(x, y) (a GAN's discriminator); the
    # privacy audit's critic attack uses it. None: the family has no such network
    critic: str | None = None
    config: type[ModelSection] = ModelSection  # the family's `model` config section (its own keys, its own defaults)
    # default optimizer settings of each trained network, by network name: the `optim.<network>` keys
    optimizers: Mapping[str, OptimizerSettings] = field(default_factory=dict)
    # the privacy audit's membership score (None: the family has none; the attack is skipped and says so)
    membership: MembershipScore | None = None
    # (networks by name, images in [-1, 1], labels or None) -> reconstructions in [-1, 1]; families with an
    # encoder (VAE) declare it and `genforge reconstruct` uses it
    reconstruct: Callable[[dict[str, nn.Module], torch.Tensor, "torch.Tensor | None"], torch.Tensor] | None = None
    # what the family's part of each format migration does to a stored config dict: {from_version: fn}
    migrations: Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)

    def conditional_for(self, info: DataInfo) -> bool:
        """Whether a model of this family on data ``info`` is class-conditional."""
        return info.num_classes >= 2 if self.conditional is None else self.conditional

    def resolve(self, request: SampleRequest | None, family: str, conditional: bool | None = None) -> SampleRequest:
        """``conditional``: of the trained model (default: the family's declaration; True where it follows the data)."""
        cond = (self.conditional is not False) if conditional is None else conditional
        req = self.sampling.resolve(request, family, cond)
        SAMPLERS.get(req.sampler)  # a declared sampler that is not registered fails here, by name
        return req

    @torch.no_grad()
    def generate(self, net: nn.Module, request: SampleRequest, indices: int | Sequence[int], labels: torch.Tensor | None,
                 seed: int, batch_size: int = SAMPLE_BATCH) -> torch.Tensor:
        """Samples ``indices`` (an int n: 0..n-1) of the request with ``seed``, in [-1, 1], on CPU; one label each.

        ``request`` must be resolved. Sample i draws only from its own generator (``SampleNoise``), so
        a sample regenerated alone gets the same noise as in any batch. The network is used in eval
        mode and restored to its previous mode afterwards.
        """
        indices = list(range(indices)) if isinstance(indices, int) else list(indices)
        assert labels is None or len(labels) == len(indices), "one label per sample"
        device = next(net.parameters()).device
        noise = SampleNoise(seed, indices, device)
        y = None if labels is None else labels.to(device)
        was_training = net.training
        net.eval()
        try:
            parts = [self.sample(net, request, None if y is None else y[i : i + batch_size], noise.part(i, i + batch_size)).cpu()
                     for i in range(0, len(indices), batch_size)]
        finally:
            net.train(was_training)
        return torch.cat(parts) if parts else torch.zeros((0,))
