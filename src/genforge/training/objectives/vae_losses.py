"""VAE objective math (Kingma & Welling 2014): pure functions on tensors, one value per example.

Negative ELBO = E_q[−log p(x|z)] + β·KL(q(z|x) ‖ p(z)); every NLL here is in nats of x on the
[-1, 1] data scale (the model's data space), so the likelihoods are comparable and
``bits_per_dim(..., data_range=2)`` converts any of them.
"""
from __future__ import annotations

import math

import torch

from genforge.core.errors import ConfigError, did_you_mean

LOG_2PI = math.log(2 * math.pi)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag σ²) ‖ N(0, I)) = ½ Σ_j (mu_j² + σ_j² − 1 − log σ_j²)  (Kingma & Welling 2014, app. B). (B, z) -> (B,)"""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """−log N(x; mean, exp(logvar)) summed over pixels; logvar broadcasts (e.g. (1, C, 1, 1)). -> (B,)"""
    # −log N = ½ (log 2π + log σ² + (x − mean)²/σ²)
    nll = 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))  # (B, C, H, W)
    return nll.flatten(1).sum(dim=1)


def cbernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ), λ = σ(η), the continuous Bernoulli's log normalising constant (Loaiza-Ganem & Cunningham 2019, eq. 7).

    With λ^x (1−λ)^(1−x) = (1−λ)·e^(ηx), C(λ) = 1 / ((1−λ)·Z(η)), Z(η) = ∫₀¹ e^(ηx) dx = (e^η − 1)/η:
      log C = softplus(η) − log Z(η),  log Z(η) = max(η, 0) + log(−expm1(−|η|)) − log|η|   (no overflow for large |η|).
    log Z is 0/0 at η = 0 (λ = 0.5); there we use log Z(η) = η/2 + η²/24 − η⁴/2880 + η⁶/181440 (|η| < 0.5:
    truncation error < 1e-9).
    """
    eta = logits
    small = eta.abs() < 0.5
    t = torch.where(small, torch.ones_like(eta), eta.abs())  # keep the unused branch finite, or its grad is NaN
    direct = eta.clamp(min=0) + torch.log(-torch.expm1(-t)) - torch.log(t)
    e2 = eta * eta
    series = eta / 2 + e2 * (1 / 24 + e2 * (-1 / 2880 + e2 / 181440))
    log_z = torch.where(small, series, direct)
    return torch.nn.functional.softplus(eta) - log_z


def cbernoulli_nll(x01: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """−log CB(x01; λ = σ(logits)) summed over pixels, x01 in [0, 1], in nats of x01 (density on [0, 1]). -> (B,)

    −log CB = BCE_with_logits(η, x) − log C(λ); without − log C this is the (improper) "Bernoulli on
    continuous data" loss that the CB paper corrects.
    """
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x01, reduction="none")
    return (bce - cbernoulli_log_norm(logits)).flatten(1).sum(dim=1)


def reconstruction_nll(decoder_params: dict[str, torch.Tensor], x: torch.Tensor, likelihood: str) -> torch.Tensor:
    """−log p(x | z) in nats of x on the [-1, 1] scale, summed over pixels; x (B, C, H, W) in [-1, 1]. -> (B,)

    The continuous Bernoulli models x01 = (x + 1)/2; by change of variables p_x(x) = p_01(x01)·|dx01/dx|
    = p_01(x01)/2 per dimension, so −log p_x = −log p_01 + D·log 2.
    """
    if likelihood in ("gaussian", "gaussian_fixed"):
        return gaussian_nll(x, decoder_params["mean"], decoder_params["logvar"])
    if likelihood == "cbernoulli":
        dims = x[0].numel()
        return cbernoulli_nll((x + 1) / 2, decoder_params["logits"]) + dims * math.log(2)
    raise ConfigError(f"unknown VAE likelihood '{likelihood}'{did_you_mean(likelihood, ('gaussian', 'gaussian_fixed', 'cbernoulli'))}")


def bits_per_dim(nll_nats: torch.Tensor, dims: int, data_range: float = 2.0) -> torch.Tensor:
    """Bits per dimension of 8-bit images from the NLL (nats) of a density on an interval of width data_range.

    8-bit pixels are 256 bins of width Δ = data_range/256 on that interval (the dequantisation
    convention x = (k + u)/256, rescaled). The grid probability of a pixel vector is P = ∫_bin p ≈ p·Δ^D,
    and by Jensen −log P ≤ E_u[−log p(x + u)] − D·log Δ under uniform dequantisation (Theis et al. 2016), so
      −log₂ P = (nll − D·log Δ)/ln 2 = (nll + D·log(256/data_range))/ln 2,   bpd = that / D
    (an upper bound on the discrete model's bpd when nll is measured on dequantised data).
    data_range = 2 for [-1, 1] (our NLL units), 1 for [0, 1]; a uniform density on [-1, 1]^D gives 8.
    """
    return (nll_nats + dims * math.log(256 / data_range)) / (dims * math.log(2))


def active_units(mu_over_dataset: torch.Tensor, threshold: float = 0.01) -> int:
    """Number of latent dims with Cov_x(E_q[z_i | x]) > threshold (Burda et al. 2016, §5.2); input (N, z) posterior means.

    Uses the unbiased sample variance over the N examples.
    """
    return int((mu_over_dataset.var(dim=0) > threshold).sum().item())


def kl_weight(step: int, beta: float, warmup_steps: int) -> float:
    """Linear KL warm-up (Bowman et al. 2016; Sønderby et al. 2016): β·min(1, step/warmup_steps); warmup 0 -> β."""
    if warmup_steps <= 0:
        return float(beta)
    return float(beta) * min(1.0, step / warmup_steps)
