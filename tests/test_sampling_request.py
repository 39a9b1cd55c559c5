"""One sampling request and per-sample noise (DESIGN §2a), through the family declaration only."""
from __future__ import annotations

import pytest
import torch

from conftest import small_section
from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS, SAMPLERS
from genforge.data.imageset import DataInfo
from genforge.sampling.direct import request_latents
from genforge.sampling.noise import SampleNoise, sample_seed
from genforge.sampling.request import SampleRequest

# Batched and alone, the same noise gives the same image up to float32 kernel differences between batch
# sizes (observed ≤ 1e-6 here); the noise itself is bit-identical.
IMAGE_TOL = 1e-5


def _info(classes: int = 10) -> DataInfo:
    return DataInfo(channels=1, image_size=8, num_classes=classes, classes=tuple(str(i) for i in range(classes)),
                    mean=(0.5,), std=(0.5,), n_train=10, n_val=0, n_test=0, content_hash="x", prep_hash="x")


def test_sample_seeds_are_hashed_not_offset():
    seeds = {sample_seed(s, i) for s in range(20) for i in range(20)}
    assert len(seeds) == 400  # (S, i) and (S+1, i-1) do not collide as S + i would
    a, b = SampleNoise(5, 50).randn(16), SampleNoise(6, 50).randn(16)
    assert not set(a.flatten().tolist()) & set(b.flatten().tolist())  # seed S+1 shares no draw with seed S


def test_noise_of_a_sample_does_not_depend_on_the_batch():
    batch = SampleNoise(3, 8).randn(4, 2)
    for i in (0, 5, 7):
        assert torch.equal(SampleNoise(3, [i]).randn(4, 2)[0], batch[i])
    parts = SampleNoise(3, 8)
    split = torch.cat([parts.part(0, 3).randn(4, 2), parts.part(3, 8).randn(4, 2)])
    assert torch.equal(split, batch)


def test_truncation_redraws_from_the_sample_generator():
    z = request_latents(SampleNoise(0, 64), 32, 0.5)
    assert z.abs().max() <= 0.5 and torch.equal(z, request_latents(SampleNoise(0, 64), 32, 0.5))
    assert torch.equal(z[9], request_latents(SampleNoise(0, [9]), 32, 0.5)[0])
    assert torch.equal(request_latents(SampleNoise(0, 4), 8, None), SampleNoise(0, 4).randn(8))


@pytest.mark.parametrize("name", MODELS.names())
def test_every_family_regenerates_a_sample_alone(name):
    spec = MODELS.get(name)
    torch.manual_seed(0)
    net = spec.build(small_section(spec, name), _info())[spec.sample_net].eval()
    labels = torch.arange(10) % 10 if spec.conditional_for(_info()) else None
    req = spec.resolve(None, name)
    full = spec.generate(net, req, 10, labels, seed=4)
    small_batches = spec.generate(net, req, 10, labels, seed=4, batch_size=3)
    alone = spec.generate(net, req, [7], None if labels is None else labels[7:8], seed=4)
    assert (full - small_batches).abs().max() <= IMAGE_TOL
    assert (full[7] - alone[0]).abs().max() <= IMAGE_TOL
    assert not torch.equal(full, spec.generate(net, req, 10, labels, seed=5))


def test_every_declared_sampler_is_registered():
    for name in MODELS.names():
        spec = MODELS.get(name)
        for sampler in spec.sampling.samplers:
            assert sampler in SAMPLERS, (name, sampler)


@pytest.mark.parametrize("request_, message", [
    (SampleRequest(sampler="ddim"), "unknown sampler 'ddim' for cgan; valid: direct"),
    (SampleRequest(sample_steps=20), "--sample-steps does not apply to cgan"),
    (SampleRequest(sample_steps=0), "--sample-steps must be an integer from 1"),
    (SampleRequest(eta=1.5), "--eta must be a number from 0 to 1"),
    (SampleRequest(guidance=float("nan")), "--guidance must be a number"),
    (SampleRequest(truncation=0.0), r"--truncation must be a number in \(0, 10\]"),
    (SampleRequest(guidance_interval=(0.8, 0.2)), "--guidance-interval must be two numbers lo < hi"),
])
def test_bad_requests_are_one_clear_line(request_, message):
    with pytest.raises(ConfigError, match=message):
        MODELS.get("cgan").resolve(request_, "cgan")


def test_guidance_on_an_unconditional_family_says_so():
    with pytest.raises(ConfigError, match="--guidance needs a class-conditional model"):
        MODELS.get("dcgan").resolve(SampleRequest(guidance=2.0), "dcgan")


def test_interpolation_rows_start_and_end_at_the_request_samples():
    from genforge.sampling.direct import interpolation_grid

    spec = MODELS.get("cgan")
    torch.manual_seed(0)
    net = spec.build(small_section(spec, "cgan"), _info())[spec.sample_net].eval()
    labels = torch.tensor([3, 5])
    grid = interpolation_grid(net, 2, 6, labels, seed=9)
    ends = spec.generate(net, spec.resolve(None, "cgan"), [0, 1, 2, 3], torch.tensor([3, 3, 5, 5]), seed=9)
    assert grid.shape[0] == 12
    for row, (a, b) in enumerate(((0, 1), (2, 3))):
        assert (grid[row * 6] - ends[a]).abs().max() <= IMAGE_TOL and (grid[row * 6 + 5] - ends[b]).abs().max() <= IMAGE_TOL
