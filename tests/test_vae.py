"""VAE / CVAE networks (models/vae.py) and objective math (training/objectives/vae_losses.py)."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.distributions import ContinuousBernoulli, Normal, kl_divergence

from genforge.core.errors import ConfigError
from genforge.models.vae import Decoder, Encoder, cbernoulli_mean, size_ladder
from genforge.training.objectives.vae_losses import (
    active_units,
    bits_per_dim,
    cbernoulli_nll,
    gaussian_nll,
    kl_standard_normal,
    kl_weight,
    reconstruction_nll,
)

LIKELIHOODS = ["gaussian", "gaussian_fixed", "cbernoulli"]


pytestmark = pytest.mark.usefixtures("one_thread")


def make_pair(channels=1, size=8, num_classes=0, likelihood="gaussian", width=8, z_dim=4):
    enc = Encoder(channels, size, width, z_dim, num_classes=num_classes, embed_dim=4)
    dec = Decoder(z_dim, channels, size, width, num_classes=num_classes, embed_dim=4, likelihood=likelihood)
    return enc, dec


def negative_elbo(enc, dec, x, y, likelihood, generator, beta=1.0):
    """(B,) recon NLL, (B,) KL with one reparameterised sample z = mu + σ·ε."""
    mu, logvar = enc(x, y)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + (0.5 * logvar).exp() * eps
    return reconstruction_nll(dec.params(z, y), x, likelihood), beta * kl_standard_normal(mu, logvar)


# ---------------------------------------------------------------- networks


def test_size_ladder_mirrors_odd_sizes():
    assert size_ladder(28) == [28, 14, 7]
    assert size_ladder(32) == [32, 16, 8, 4]
    assert size_ladder(8) == [8, 4]
    assert size_ladder(9) == [9, 5]
    with pytest.raises(ConfigError, match="image_size"):
        size_ladder(7)


@pytest.mark.parametrize("size", [8, 28, 32, 9])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_shapes(size, channels, num_classes):
    torch.manual_seed(0)
    B = 3
    x = torch.rand(B, channels, size, size) * 2 - 1
    y = torch.arange(B) % 10 if num_classes else None
    for lik in LIKELIHOODS:
        enc, dec = make_pair(channels, size, num_classes, lik)
        mu, logvar = enc(x, y)
        assert mu.shape == logvar.shape == (B, 4)
        out = dec(mu, y)
        assert out.shape == x.shape
        assert out.min() >= -1 and out.max() <= 1
        params = dec.params(mu, y)
        key = "logits" if lik == "cbernoulli" else "mean"
        assert params[key].shape == x.shape
        assert reconstruction_nll(params, x, lik).shape == (B,)
    assert dec.z_dim == 4


def test_bad_likelihood_is_a_config_error():
    with pytest.raises(ConfigError, match="cbernoulli"):
        Decoder(4, 1, 8, 8, likelihood="cbernouli")
    with pytest.raises(ConfigError, match="cbernoulli"):
        reconstruction_nll({}, torch.zeros(1, 1, 8, 8), "cbernouli")


def test_parameter_count_28x28():
    enc = Encoder(1, 28, 32, 16, num_classes=10)
    dec = Decoder(16, 1, 28, 32, num_classes=10, likelihood="gaussian")
    n = sum(p.numel() for m in (enc, dec) for p in m.parameters())
    assert 150_000 < n < 400_000, n  # CPU-sized; the exact count is in the module docstring


# ---------------------------------------------------------------- objective math (float64 parity)


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(16, 5, generator=g, dtype=torch.float64) * 2
    logvar = torch.randn(16, 5, generator=g, dtype=torch.float64) * 2
    kl = kl_standard_normal(mu, logvar)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert kl.shape == (16,)
    assert torch.allclose(kl, ref, atol=1e-5)
    assert (kl >= 0).all()
    assert kl_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max() == 0


def test_gaussian_nll_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 6, 6, generator=g, dtype=torch.float64) * 2 - 1
    mean = torch.rand(4, 3, 6, 6, generator=g, dtype=torch.float64) * 2 - 1
    logvar = torch.randn(1, 3, 1, 1, generator=g, dtype=torch.float64)
    ref = -Normal(mean, (0.5 * logvar).exp()).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(gaussian_nll(x, mean, logvar), ref, atol=1e-8)
    # reconstruction_nll reports the same (already in [-1, 1] units)
    assert torch.allclose(reconstruction_nll({"mean": mean, "logvar": logvar}, x, "gaussian"), ref, atol=1e-8)


EDGE_LOGITS = [0.0, 1e-7, -1e-7, 1e-4, -3e-3, 0.2, -0.49, 0.5, 0.51, -1.0, 3.0, 20.0, -20.0]


def _logits_grid(dtype):
    g = torch.Generator().manual_seed(2)
    edge = torch.tensor(EDGE_LOGITS, dtype=dtype)
    rand = torch.randn(51, generator=g, dtype=dtype) * 5
    return torch.cat([edge, rand]).view(4, 1, 8, 2)  # 64 logits as (B=4, 1, 8, 2)


def test_cbernoulli_nll_matches_torch_and_adds_the_jacobian():
    logits = _logits_grid(torch.float64)
    g = torch.Generator().manual_seed(3)
    x01 = torch.rand(logits.shape, generator=g, dtype=torch.float64)
    x01[0, 0, 0, 0], x01[0, 0, 0, 1] = 0.0, 1.0  # the interval's ends
    ref = -ContinuousBernoulli(logits=logits).log_prob(x01).flatten(1).sum(1)
    # torch's CB switches to a Taylor expansion only inside λ ∈ (0.499, 0.501); away from it both are exact
    assert torch.allclose(cbernoulli_nll(x01, logits), ref, rtol=1e-7, atol=1e-6)
    # in [-1, 1] units: −log p_x = −log p_01 + D·log 2  (dx01/dx = 1/2 per pixel)
    x = 2 * x01 - 1
    D = x[0].numel()
    assert torch.allclose(reconstruction_nll({"logits": logits}, x, "cbernoulli"), ref + D * math.log(2), rtol=1e-7, atol=1e-6)


def test_cbernoulli_is_finite_and_accurate_in_float32():
    logits = _logits_grid(torch.float32).requires_grad_(True)
    x01 = torch.full(logits.shape, 0.3)
    nll = cbernoulli_nll(x01, logits)
    nll.sum().backward()
    assert torch.isfinite(nll).all() and torch.isfinite(logits.grad).all()
    ref = cbernoulli_nll(x01.double(), logits.detach().double())
    assert torch.allclose(nll.double(), ref, rtol=1e-5, atol=1e-4)
    # the normaliser is continuous across the Taylor switch at |η| = 0.5
    eta = torch.tensor([0.5 - 1e-6, 0.5 + 1e-6, -0.5 - 1e-6, -0.5 + 1e-6]).view(4, 1)
    v = cbernoulli_nll(torch.zeros(4, 1), eta)
    assert abs(v[0] - v[1]) < 1e-5 and abs(v[2] - v[3]) < 1e-5


def test_cbernoulli_mean_matches_torch():
    logits = _logits_grid(torch.float64)
    ref = 2 * ContinuousBernoulli(logits=logits).mean - 1
    assert torch.allclose(cbernoulli_mean(logits), ref, atol=1e-7)
    # float32: finite gradient, no cancellation blow-up near λ = 0.5
    l32 = logits.float().requires_grad_(True)
    m = cbernoulli_mean(l32)
    m.sum().backward()
    assert torch.isfinite(l32.grad).all()
    assert torch.allclose(m.double(), cbernoulli_mean(logits), atol=2e-6)
    # and the decoder's forward is exactly this mean, not 2σ(λ) − 1
    torch.manual_seed(0)
    dec = Decoder(4, 1, 8, 8, likelihood="cbernoulli")
    z = torch.randn(2, 4)
    ref_dec = 2 * ContinuousBernoulli(logits=dec.params(z)["logits"].double()).mean - 1
    assert torch.allclose(dec(z).double(), ref_dec, atol=2e-6)


def test_bits_per_dim_uniform_is_8():
    D = 3 * 8 * 8
    # uniform density on [-1, 1]^D: −log p = D·log 2  ->  exactly 8 bits per dimension
    nll = torch.full((5,), D * math.log(2.0))
    assert torch.allclose(bits_per_dim(nll, D, data_range=2.0), torch.full((5,), 8.0))
    # on [0, 1]: uniform has nll 0
    assert torch.allclose(bits_per_dim(torch.zeros(2), D, data_range=1.0), torch.full((2,), 8.0))
    # a density 2× sharper than uniform saves one bit per dim
    assert torch.allclose(bits_per_dim(torch.tensor([D * math.log(2.0) - D * math.log(2.0)]), D, 2.0), torch.tensor([7.0]))


def test_active_units_and_kl_weight():
    g = torch.Generator().manual_seed(4)
    mu = torch.randn(200, 5, generator=g)
    mu[:, 1] = 0.7
    mu[:, 3] = 0.05 * torch.randn(200, generator=g)  # variance 0.0025 < 0.01: inactive
    assert active_units(mu) == 3
    assert active_units(mu, threshold=0.001) == 4
    assert kl_weight(0, 2.0, 0) == 2.0
    assert kl_weight(0, 1.0, 100) == 0.0
    assert kl_weight(50, 1.0, 100) == 0.5
    assert kl_weight(500, 0.5, 100) == 0.5


# ---------------------------------------------------------------- training and plumbing


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images[:64], dtype=torch.float32).unsqueeze(1) / 16 * 2 - 1  # (64, 1, 8, 8) in [-1, 1]
    return x, torch.tensor(d.target[:64])


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_tiny_optimisation_lowers_the_negative_elbo(digits, likelihood):
    x, _ = digits
    torch.manual_seed(0)
    enc, dec = make_pair(1, 8, 0, likelihood, width=16, z_dim=8)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=3e-3)
    g = torch.Generator().manual_seed(0)

    def loss_value():
        with torch.no_grad():
            recon, kl = negative_elbo(enc, dec, x, None, likelihood, torch.Generator().manual_seed(1))
        return (recon + kl).mean().item()

    start = loss_value()
    for _ in range(80):
        recon, kl = negative_elbo(enc, dec, x, None, likelihood, g)
        loss = (recon + kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = loss_value()
    D = x[0].numel()
    assert end < start - 0.5 * D, (start, end)  # at least half a nat per pixel
    with torch.no_grad():
        mse = (dec(enc(x)[0]) - x).pow(2).mean().item()
    mse_mean_image = (x.mean(0, keepdim=True) - x).pow(2).mean().item()
    assert mse < 0.6 * mse_mean_image, (mse, mse_mean_image)


@pytest.mark.parametrize("likelihood", ["gaussian", "cbernoulli"])
def test_gradients_reach_every_parameter(digits, likelihood):
    x, y = digits
    torch.manual_seed(0)
    enc, dec = make_pair(1, 8, 10, likelihood)
    recon, kl = negative_elbo(enc, dec, x[:16], y[:16], likelihood, torch.Generator().manual_seed(0))
    (recon + kl).mean().backward()
    for name, p in [*enc.named_parameters(prefix="enc"), *dec.named_parameters(prefix="dec")]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_safetensors_round_trip(tmp_path, likelihood):
    torch.manual_seed(0)
    enc, dec = make_pair(3, 28, 10, likelihood)
    for i, m in enumerate((enc, dec)):
        save_file(m.state_dict(), tmp_path / f"m{i}.safetensors")
    torch.manual_seed(1)
    enc2, dec2 = make_pair(3, 28, 10, likelihood)
    enc2.load_state_dict(load_file(tmp_path / "m0.safetensors"))
    dec2.load_state_dict(load_file(tmp_path / "m1.safetensors"))
    x, y = torch.rand(2, 3, 28, 28) * 2 - 1, torch.tensor([3, 7])
    mu, logvar = enc(x, y)
    mu2, logvar2 = enc2(x, y)
    assert torch.equal(mu, mu2) and torch.equal(logvar, logvar2)
    assert torch.equal(dec(mu, y), dec2(mu, y))
    p, p2 = dec.params(mu, y), dec2.params(mu, y)
    assert p.keys() == p2.keys() and all(torch.equal(p[k], p2[k]) for k in p)
