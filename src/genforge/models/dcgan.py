"""DCGAN family: unconditional generator and discriminator (Radford et al. 2016), CPU-sized."""
from __future__ import annotations

from genforge.core.registry import MODELS
from genforge.data.imageset import DataInfo
from genforge.models.gan_blocks import Discriminator, Generator
from genforge.models.gan_config import GAN_MIGRATIONS, GAN_OPTIMIZERS, GANConfig
from genforge.models.spec import ModelSpec, SamplingSpec
from genforge.sampling.direct import direct


def build_dcgan(cfg: GANConfig, info: DataInfo) -> dict:
    return {
        "generator": Generator(cfg.z_dim, info.channels, info.image_size, cfg.g_channels),
        "discriminator": Discriminator(info.channels, info.image_size, cfg.d_channels, sn=cfg.spectral_norm),
    }


MODELS.register("dcgan")(ModelSpec(
    build=build_dcgan, task="gan", conditional=False, sample_net="generator", sample=direct,
    sampling=SamplingSpec(("direct",), {"truncation": None}), selection_metric="val_fd", critic="discriminator",
    config=GANConfig, optimizers=GAN_OPTIMIZERS, migrations=GAN_MIGRATIONS))
