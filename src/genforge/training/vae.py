"""The VAE training task (Kingma & Welling 2014), and the vae / cvae declarations (Sohn et al. 2015).

One step maximises the ELBO with one reparameterised sample per image:
  ELBO(x) = E_q(z|x,y)[log p(x|z,y)] − KL(q(z|x,y) ‖ N(0, I)),   z = μ + σ·ε, ε ~ N(0, I).
The KL term is warmed up linearly to β (Bowman et al. 2016) so the decoder learns to use z before the
prior pulls the posteriors together (the usual cure for early posterior collapse).

Dequantisation: the data are 8-bit, the likelihoods continuous. Every ELBO here (training, the
selection metric, the membership score) is of x = (k + u)/128 − 1, k the pixel value, u ~ U[0, 1)
(Theis et al. 2016). Without it a learned σ shrinks onto the 256 grid values and the "ELBO" grows
without bound; with it the bits/dim are an upper bound on the discrete model's.

The declarations live here, not in models/, because their membership score is the ELBO, whose math
(training/objectives/vae_losses.py) sits above models/ in the layering (DESIGN §2).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from genforge.core.config import OptimizerSettings, RunConfig
from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS, TASKS
from genforge.core.runtime import make_generator
from genforge.data.imageset import DataInfo, ImageSet
from genforge.models.spec import ModelSpec, SamplingSpec
from genforge.models.vae import Decoder, Encoder, VAEConfig, build_cvae, build_vae, reconstruct
from genforge.sampling.direct import direct
from genforge.training.objectives.vae_losses import bits_per_dim, kl_standard_normal, kl_weight, reconstruction_nll
from genforge.training.task import image_batch, make_optimizer

MEMBERSHIP_DRAWS = 4  # ELBO samples averaged per image: a less noisy score is a stronger (more honest) attack
CHUNK = 256  # images per forward pass when scoring many


def dequantise(x: Tensor, generator: torch.Generator) -> Tensor:
    """x on the 8-bit grid of [-1, 1] (k/127.5 − 1) -> (k + u)/128 − 1 in [-1, 1), u ~ U[0, 1) from ``generator``."""
    k = ((x + 1) * 127.5).round().clamp(0, 255)
    u = torch.rand(x.shape, generator=generator, device=generator.device).to(x.device)
    return (k + u) / 128 - 1


def elbo_terms(encoder: Encoder, decoder: Decoder, x: Tensor, y: Tensor | None,
               generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(−log p(x|z, y), KL(q ‖ p), μ) per image, each (B,) but μ (B, z_dim); x (B, C, H, W) in [-1, 1].

    One draw of the dequantisation noise and of ε from ``generator``; −ELBO = nll + kl (nats).
    """
    x = dequantise(x, generator)
    mu, logvar = encoder(x, y)                                                    # (B, z) each
    eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation trick (Kingma & Welling 2014, eq. 10)
    nll = reconstruction_nll(decoder.params(z, y), x, decoder.likelihood)         # (B,)
    return nll, kl_standard_normal(mu, logvar), mu


def pair_of(nets: dict[str, nn.Module], user: str) -> tuple[Encoder, Decoder]:
    """The encoder and decoder of a vae/cvae checkpoint; a clear error for any other family."""
    enc, dec = nets.get("encoder"), nets.get("decoder")
    if not isinstance(enc, Encoder) or not isinstance(dec, Decoder):
        raise ConfigError(f"{user} needs a model with an encoder and a decoder (--model vae or cvae); "
                          f"this one has {', '.join(sorted(nets))}")
    return enc, dec


@torch.no_grad()
def elbo_per_image(enc: Encoder, dec: Decoder, x: Tensor, y: Tensor | None, generator: torch.Generator,
                   draws: int = 1) -> tuple[Tensor, Tensor]:
    """(ELBO per image (n,), posterior means (n, z_dim)), on CPU, averaged over ``draws`` noise draws; eval mode.

    ``y`` is used only by a conditional pair. Networks are restored to their previous mode afterwards.
    """
    device = next(enc.parameters()).device
    modes = (enc.training, dec.training)
    enc.eval()
    dec.eval()
    try:
        elbos, mus = [], []
        for i in range(0, len(x), CHUNK):
            xb = x[i : i + CHUNK].to(device)
            yb = y[i : i + CHUNK].to(device) if (y is not None and enc.num_classes) else None
            total = torch.zeros(len(xb), device=device, dtype=torch.float64)
            for _ in range(draws):
                nll, kl, mu = elbo_terms(enc, dec, xb, yb, generator)
                total -= (nll + kl).double()
            elbos.append((total / draws).cpu())
            mus.append(mu.cpu())
        return torch.cat(elbos), torch.cat(mus)
    finally:
        enc.train(modes[0])
        dec.train(modes[1])


def elbo_membership(nets: dict[str, nn.Module], x: Tensor, y: Tensor | None, generator: torch.Generator) -> Tensor:
    """The privacy audit's score: the ELBO of each image (n,), higher = more member-like (training images fit better)."""
    enc, dec = pair_of(nets, "the ELBO membership score")
    return elbo_per_image(enc, dec, x, y, generator, MEMBERSHIP_DRAWS)[0].float()


@TASKS.register("vae")
class VAETask:
    def __init__(self, cfg: RunConfig, info: DataInfo, device: torch.device) -> None:
        spec = MODELS.get(cfg.model.name)
        self.encoder, self.decoder = (m.to(device) for m in pair_of(spec.build(cfg.model, info), "train.task=vae"))
        self.conditional = spec.conditional_for(info)
        self.beta, self.warmup = cfg.model.beta, cfg.model.kl_warmup_steps
        self.dims = info.channels * info.image_size**2
        self.opt_enc = make_optimizer(self.encoder.parameters(), cfg.optim.network("encoder"))
        self.opt_dec = make_optimizer(self.decoder.parameters(), cfg.optim.network("decoder"))
        self.rng = make_generator(cfg.train.seed + 1, device)  # dequantisation u and reparameterisation ε
        self.device = device

    def networks(self) -> dict[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"encoder": self.opt_enc, "decoder": self.opt_dec}

    def generators(self) -> dict[str, torch.Generator]:
        return {"train": self.rng}

    def batch(self, data: ImageSet, idx: Tensor) -> dict[str, Tensor | None]:
        return image_batch(data, idx, self.device)

    def train_step(self, batch: dict[str, Tensor | None], step: int) -> dict[str, Tensor]:
        x, y = batch["x"], (batch["y"] if self.conditional else None)
        nll, kl, _ = elbo_terms(self.encoder, self.decoder, x, y, self.rng)        # (B,) each
        w = kl_weight(step, self.beta, self.warmup)
        loss = (nll + w * kl).mean()
        self.opt_enc.zero_grad(set_to_none=True)
        self.opt_dec.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_enc.step()
        self.opt_dec.step()
        neg_elbo = (nll + kl).detach()  # the bound itself (β = 1, no warm-up), whatever the training weight
        return {"loss": loss.detach(), "elbo": -neg_elbo.mean(), "recon": nll.detach().mean(), "kl": kl.detach().mean(),
                "kl_weight": torch.tensor(w), "bpd": bits_per_dim(neg_elbo, self.dims).mean()}


# Adam at the usual VAE settings; the trial (docs in the report) found 1e-3 stable with the KL warm-up
VAE_OPTIMIZERS = {"encoder": OptimizerSettings(lr=1e-3, betas=(0.9, 0.999)),
                  "decoder": OptimizerSettings(lr=1e-3, betas=(0.9, 0.999))}


def _declare(build, conditional: bool) -> ModelSpec:
    # the decoder maps (z, y) to its mean image, so the GAN's direct sampler (and its truncation) applies unchanged
    return ModelSpec(build=build, task="vae", conditional=conditional, sample_net="decoder", sample=direct,
                     sampling=SamplingSpec(("direct",), {"truncation": None}), selection_metric="val_elbo",
                     config=VAEConfig, optimizers=VAE_OPTIMIZERS, membership=elbo_membership,
                     reconstruct=lambda nets, x, y: reconstruct(nets["encoder"], nets["decoder"], x, y))


MODELS.register("vae")(_declare(build_vae, conditional=False))
MODELS.register("cvae")(_declare(build_cvae, conditional=True))
