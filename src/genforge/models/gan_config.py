"""The GAN families' config section (`model`, for cgan and dcgan), optimizer defaults and format migrations."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, PositiveFloat

from genforge.core.config import Count, Latent, ModelSection, OptimizerSettings, Width


class GANConfig(ModelSection):
    name: Literal["cgan", "dcgan"] = "cgan"
    z_dim: Latent = 64
    g_channels: Width = 32  # generator width at the highest hidden resolution
    d_channels: Width = 32  # discriminator width at the first layer
    embed_dim: Latent = 32  # class embedding size in the generator (conditional models)
    spectral_norm: bool = True
    aux_classifier: bool = True  # cgan: an AC-GAN class head on D (weights aux_weight, aux_weight_g)
    loss: str = "hinge"  # bce (non-saturating) | hinge | wasserstein
    penalty: str = "none"  # none | gp | r1
    penalty_weight: PositiveFloat = 10.0
    d_steps: Annotated[int, Field(ge=1, le=100)] = 1
    # DiffAugment (Zhao et al. 2020): "auto" turns it on below `diffaugment_max_items` images.
    diffaugment: Literal["auto", "on", "off"] = "auto"
    diffaugment_policy: tuple[Literal["translation", "cutout", "color"], ...] = ("translation",)
    diffaugment_max_items: Count = 10000
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    aux_weight: float = Field(1.0, ge=0.0)  # AC-GAN class loss on real images in D (aux_classifier)
    aux_weight_g: float = Field(1.0, ge=0.0)  # AC-GAN class loss on generated images in G
    mode_seeking_weight: float = Field(0.3, ge=0.0)  # MSGAN diversity term in G (0 turns it off)


# Adam betas typical for hinge/SN GANs (Miyato et al. 2018)
GAN_OPTIMIZERS = {"generator": OptimizerSettings(lr=2e-4, betas=(0.0, 0.9)),
                  "discriminator": OptimizerSettings(lr=2e-4, betas=(0.0, 0.9))}


def from_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2: the flat `gan` section joins `model`; `optim.lr_g`/`lr_d` and the shared `betas` become
    `optim.generator` and `optim.discriminator`. Values are moved, never re-defaulted."""
    model = raw.setdefault("model", {})
    gan = raw.pop("gan", {})
    if isinstance(model, dict) and isinstance(gan, dict):
        model.update(gan)
    optim = raw.setdefault("optim", {})
    if isinstance(optim, dict):
        betas = optim.pop("betas", list(GAN_OPTIMIZERS["generator"].betas))
        for key, net in (("lr_g", "generator"), ("lr_d", "discriminator")):
            if key in optim:
                optim[net] = {"lr": optim.pop(key), "betas": betas, "weight_decay": 0.0}
    return raw


GAN_MIGRATIONS = {1: from_v1}
