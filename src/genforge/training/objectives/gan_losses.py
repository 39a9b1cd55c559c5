"""GAN losses on discriminator scores (logits). Each is registered under its config name."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genforge.core.registry import GAN_LOSSES


@dataclass(frozen=True)
class GANLoss:
    """d_loss(real scores, fake scores) and g_loss(fake scores); scores are (B,) logits."""

    name: str

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@GAN_LOSSES.register("bce")
class NonSaturatingBCE(GANLoss):
    """Goodfellow et al. 2014: D maximises log D(x) + log(1 − D(G(z))); G maximises log D(G(z)).

    With D = σ(s): −log σ(s) = softplus(−s) and −log(1 − σ(s)) = softplus(s).
    """

    def __init__(self) -> None:
        super().__init__("bce")

    def d_loss(self, real, fake):
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake):
        return F.softplus(-fake).mean()


@GAN_LOSSES.register("hinge")
class Hinge(GANLoss):
    """Lim & Ye 2017; Miyato et al. 2018: L_D = E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))], L_G = −E[D(G(z))]."""

    def __init__(self) -> None:
        super().__init__("hinge")

    def d_loss(self, real, fake):
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()

    def g_loss(self, fake):
        return -fake.mean()


@GAN_LOSSES.register("wasserstein")
class Wasserstein(GANLoss):
    """Arjovsky et al. 2017: the critic maximises E[D(x)] − E[D(G(z))]; needs a Lipschitz constraint
    (gan.penalty=gp or spectral norm)."""

    def __init__(self) -> None:
        super().__init__("wasserstein")

    def d_loss(self, real, fake):
        return fake.mean() - real.mean()

    def g_loss(self, fake):
        return -fake.mean()
