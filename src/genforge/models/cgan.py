"""Conditional GAN family: class-conditional BatchNorm + input embedding in G, projection D."""
from __future__ import annotations

from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS
from genforge.data.imageset import DataInfo
from genforge.models.gan_blocks import Discriminator, Generator
from genforge.models.gan_config import GAN_MIGRATIONS, GAN_OPTIMIZERS, GANConfig
from genforge.models.spec import ModelSpec, SamplingSpec
from genforge.sampling.direct import direct


def build_cgan(cfg: GANConfig, info: DataInfo) -> dict:
    if info.num_classes < 2:
        raise ConfigError(
            "cgan needs class labels (an image folder with one subfolder per class, or .npz with 'y'); "
            "use --model dcgan for unlabelled data"
        )
    k = info.num_classes
    return {
        "generator": Generator(cfg.z_dim, info.channels, info.image_size, cfg.g_channels, k, cfg.embed_dim),
        "discriminator": Discriminator(info.channels, info.image_size, cfg.d_channels, k, sn=cfg.spectral_norm,
                                       aux_classifier=cfg.aux_classifier),
    }


MODELS.register("cgan")(ModelSpec(
    build=build_cgan, task="gan", conditional=True, sample_net="generator", sample=direct,
    sampling=SamplingSpec(("direct",), {"truncation": None}), selection_metric="val_fjd", critic="discriminator",
    config=GANConfig, optimizers=GAN_OPTIMIZERS, migrations=GAN_MIGRATIONS))
