"""Diffusion forward process, samplers and guidance: parity with diffusers, statistics, seeding contracts.

The parity tests build diffusers' schedulers from the same *config* as ours (T, schedule name, β range),
never from our betas, and drive diffusers' real ``step()`` with the same model function, the same x_T
and, for stochastic samplers, the same per-sample generators (diffusers' ``randn_tensor`` accepts a list
of generators and draws row k from generator k, exactly as SampleNoise does).
"""
from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

from genforge.core.errors import ConfigError
from genforge.models.diffusion import (Schedule, cosine_schedule, eps_from_v, linear_schedule, make_schedule,
                                       predict_x0, q_sample, v_target)
from genforge.sampling.ddim import ddim
from genforge.sampling.ddpm import ddpm
from genforge.sampling.dpmpp_2m import dpmpp_2m, dpmpp_2m_sde
from genforge.sampling.guidance import guided
from genforge.sampling.noise import SampleNoise
from genforge.training.objectives.denoising import denoising_loss, sample_timesteps

try:
    import diffusers
except ImportError:
    if os.environ.get("CI") == "true":
        raise  # in CI the reference must be there: a parity test that skips proves nothing
    diffusers = None
needs_diffusers = pytest.mark.skipif(diffusers is None, reason="diffusers (test extra) is not installed")
# diffusers' DPMSolverMultistep calls np.array() on a torch tensor, which NumPy 2 warns about; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

T = 50  # a short chain keeps the full-length DDPM parity run fast; every code path is the same as at T=1000
SHAPE = (2, 4, 4)  # (C, H, W)
DIFFUSERS_NAME = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
SAMPLERS = {"ddpm": ddpm, "ddim": ddim, "dpmpp-2m": dpmpp_2m, "dpmpp-2m-sde": dpmpp_2m_sde}


def make_eps_fn(kind: str = "linear", T: int = T, channels: int = SHAPE[0]):
    """A fixed, deterministic stand-in for a trained network on its schedule ``kind``.

    The Bayes-optimal ε for data ~ N(0, s²) (so x̂_0 stays O(1) along the chain, as with a real model;
    an arbitrary map would imply |x̂_0| ~ 1/sqrt(ᾱ_T) ~ 1000 on the cosine schedule and turn the parity
    test into a float32 round-off test), plus a small random conv of x times a smooth function of t.
    It acts on each sample separately (a conv, no batch statistics), so batching cannot change a sample.
    """
    g = torch.Generator().manual_seed(1234)
    weight = torch.randn(channels, channels, 3, 3, generator=g) * 0.3
    bias = torch.randn(channels, generator=g) * 0.1
    alpha_bar, data_var = make_schedule(kind, T).alphas_cumprod, 0.6 ** 2

    def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        assert t.dtype == torch.long and t.shape == (x.shape[0],)
        a = alpha_bar[t].view(-1, 1, 1, 1)
        optimal = ((1 - a).sqrt() / (a * data_var + 1 - a)).float() * x  # E[ε | x_t] for Gaussian data
        s = (t.to(torch.float32) / T).view(-1, 1, 1, 1)
        return optimal + 0.3 * a.sqrt().float() * torch.tanh(F.conv2d(x, weight, bias, padding=1)) * torch.cos(2 * s)

    return eps_fn


def start(seed: int, indices, shape=SHAPE) -> tuple[torch.Tensor, SampleNoise]:
    """What a caller does: x_T is each sample's first draw, the sampler's draws follow on the same generators."""
    noise = SampleNoise(seed, indices)
    return noise.randn(*shape), noise


# --------------------------------------------------------------------------------------------- schedules

@needs_diffusers
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("n_steps", [50, 1000])
def test_schedule_matches_diffusers(kind, n_steps):
    ours = make_schedule(kind, n_steps)
    ref = diffusers.DDPMScheduler(num_train_timesteps=n_steps, beta_schedule=DIFFUSERS_NAME[kind],
                                  beta_start=1e-4, beta_end=0.02)
    assert ours.T == n_steps and ours.betas.dtype == ours.alphas_cumprod.dtype == torch.float64
    torch.testing.assert_close(ours.betas, ref.betas.double(), rtol=0, atol=1e-7)
    # ᾱ from diffusers' own betas, accumulated in float64: the schedules are the same to 1e-7 ...
    torch.testing.assert_close(ours.alphas_cumprod, torch.cumprod(1 - ref.betas.double(), 0), rtol=0, atol=1e-7)
    # ... and diffusers' stored ᾱ drifts from that by its float32 cumprod (~3e-7 after 1000 products).
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod.double(), rtol=0, atol=1e-6)


def test_schedule_constructors_and_names():
    assert torch.equal(make_schedule("linear", 20).betas, linear_schedule(20).betas)
    assert torch.equal(make_schedule("cosine", 20).betas, cosine_schedule(20).betas)
    assert cosine_schedule(1000).betas.max().item() == pytest.approx(0.999)  # the cap (Nichol & Dhariwal §3.2)
    with pytest.raises(ValueError, match="unknown noise schedule 'cosin'"):
        make_schedule("cosin", 10)


@needs_diffusers
@pytest.mark.parametrize("n_train", [50, 1000])
def test_trailing_timesteps_match_diffusers(n_train):
    schedule = linear_schedule(n_train)
    for steps in range(1, n_train + 1):
        ours = schedule.sampling_timesteps(steps)
        assert ours[0] == n_train - 1 and len(set(ours)) == steps and ours == sorted(ours, reverse=True)
        ratio = n_train / steps
        if ratio.is_integer() or (2 * ratio).is_integer() or (4 * ratio).is_integer():
            # Where T/steps is a short binary fraction diffusers' float np.arange is exact, so the lists agree;
            # elsewhere it may break .5 ties by rounding noise (see Schedule.sampling_timesteps).
            ref = diffusers.DDPMScheduler(num_train_timesteps=n_train, timestep_spacing="trailing")
            ref.set_timesteps(steps)
            assert ours == ref.timesteps.tolist(), steps


def test_q_sample_moments():
    schedule = linear_schedule(1000)
    n = 20000
    x0 = torch.tensor([-1.0, -0.3, 0.4, 1.0]).view(1, 1, 1, 4).expand(n, 1, 1, 4)
    for t_val in (0, 250, 600, 999):
        eps = torch.randn(n, 1, 1, 4, generator=torch.Generator().manual_seed(t_val))
        x_t = q_sample(schedule, x0, torch.full((n,), t_val, dtype=torch.long), eps)
        assert x_t.dtype == x0.dtype and x_t.shape == x0.shape
        a = schedule.alpha_bar(t_val)
        var = 1 - a
        # 5 standard errors: sd of the mean is sqrt(var/n); of the sample variance, var·sqrt(2/(n-1)).
        mean_err = (x_t.mean(0) - math.sqrt(a) * x0[0]).abs().max().item()
        var_err = (x_t.var(0) - var).abs().max().item()
        assert mean_err < 5 * math.sqrt(var / n), (t_val, mean_err)
        assert var_err < 5 * var * math.sqrt(2 / (n - 1)), (t_val, var_err)


def test_q_sample_keeps_dtype_and_conversions_invert():
    schedule = cosine_schedule(100)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(3, *SHAPE, generator=g) * 2 - 1, torch.randn(3, *SHAPE, generator=g)
    t = torch.tensor([0, 40, 99])
    assert q_sample(schedule, x0.half(), t, eps).dtype == torch.float16
    x_t = q_sample(schedule, x0.double(), t, eps.double())
    torch.testing.assert_close(predict_x0(schedule, x_t, t, eps.double()), x0.double(), rtol=0, atol=1e-9)
    v = v_target(schedule, x0.double(), t, eps.double())
    torch.testing.assert_close(eps_from_v(schedule, x_t, t, v), eps.double(), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------- parity

def run_diffusers(scheduler, eps_fn, x_T, steps, generators=None, **step_kwargs) -> torch.Tensor:
    """diffusers' own sampling loop: set_timesteps, then its real step() once per timestep."""
    scheduler.set_timesteps(steps)
    x = x_T.clone()
    for t in scheduler.timesteps:
        eps = eps_fn(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
        if generators is not None:
            step_kwargs["generator"] = generators
        x = scheduler.step(eps, t, x, **step_kwargs).prev_sample
    return x


def with_float64_tables(scheduler):
    """The same diffusers scheduler, its own tables re-derived in float64 from its own float32 betas.

    diffusers keeps ᾱ as a float32 cumprod, so 1-ᾱ_0 = β_0 = 1e-4 carries ~5e-4 relative error (over a 50-step
    ancestral chain that alone moves samples by ~2e-5), and DPMSolverMultistep stores σ = sqrt((1-ᾱ)/ᾱ) in
    float32 and derives α_t, σ_t from it; at t = T-1 of the cosine schedule (ᾱ ≈ 1e-6) its data prediction
    divides by α ≈ 1e-3 and those 1-ulp differences become ~3e-5. Our Schedule does this arithmetic in float64,
    so the tight comparison gives diffusers the same precision and changes nothing else: step() is untouched.
    """
    scheduler.alphas_cumprod = torch.cumprod(1 - scheduler.betas.double(), 0)
    if isinstance(scheduler, diffusers.DPMSolverMultistepScheduler):
        set_timesteps = scheduler.set_timesteps

        def set_timesteps_float64(steps: int) -> None:
            set_timesteps(steps)
            a = scheduler.alphas_cumprod[scheduler.timesteps]
            sigmas = torch.cat([((1 - a) / a).sqrt(), a.new_zeros(1)])  # final_sigmas_type="zero": ends at σ = 0
            torch.testing.assert_close(sigmas, scheduler.sigmas.double(), rtol=1e-6, atol=0)  # its table, upcast
            scheduler.sigmas = sigmas

        scheduler.set_timesteps = set_timesteps_float64
    return scheduler


def assert_parity(ours: torch.Tensor, build, run) -> None:
    """``ours`` equals diffusers' result: to 1e-5 with diffusers' tables in float64, to 1e-4 as shipped.

    ``build()`` makes the diffusers scheduler from the shared config, ``run(scheduler)`` samples with it.
    """
    assert (ours - run(with_float64_tables(build()))).abs().max().item() < 1e-5
    # As shipped, float32 tables (see above) account for up to ~4e-5 on these configurations.
    assert (ours - run(build())).abs().max().item() < 1e-4


def common_config(kind: str) -> dict:
    # Each side builds its schedule from this config; diffusers never sees our betas.
    return dict(num_train_timesteps=T, beta_schedule=DIFFUSERS_NAME[kind], beta_start=1e-4, beta_end=0.02,
                prediction_type="epsilon",  # our samplers take ε; the caller converts v
                timestep_spacing="trailing",  # Lin et al. 2024: start at t = T-1 (diffusers' default: leading)
                rescale_betas_zero_snr=False)  # plain schedules, as trained


@needs_diffusers
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps,clip", [(T, True), (T, False), (10, True)])  # full chain (Alg. 2) and respaced
def test_ddpm_matches_diffusers(kind, steps, clip):
    eps_fn = make_eps_fn(kind)
    x_T, noise = start(7, 4)
    ours = ddpm(eps_fn, make_schedule(kind, T), x_T, steps, noise, clip=clip)

    def build():
        return diffusers.DDPMScheduler(**common_config(kind),
                                       variance_type="fixed_small",  # σ² = β̃_t, Ho et al.'s posterior variance
                                       clip_sample=clip, clip_sample_range=1.0,  # clip x̂_0 to [-1, 1] iff we do
                                       thresholding=False)  # no dynamic thresholding

    def run(scheduler):
        x_T_ref, ref_noise = start(7, 4)  # the same generators at the same position: diffusers draws our noise
        return run_diffusers(scheduler, eps_fn, x_T_ref, steps, generators=ref_noise.generators)

    assert_parity(ours, build, run)


@needs_diffusers
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps,eta", [(10, 0.0), (25, 0.0), (T, 0.0), (10, 0.5)])
def test_ddim_matches_diffusers(kind, steps, eta):
    eps_fn = make_eps_fn(kind)
    x_T, noise = start(11, 4)
    ours = ddim(eps_fn, make_schedule(kind, T), x_T, steps, noise, eta=eta, clip=True)

    def build():
        return diffusers.DDIMScheduler(**common_config(kind),
                                       clip_sample=True, clip_sample_range=1.0, thresholding=False,
                                       set_alpha_to_one=True,  # the last step goes to ᾱ = 1: it returns x̂_0
                                       steps_offset=0)  # the trailing list is used as is

    def run(scheduler):
        x_T_ref, ref_noise = start(11, 4)
        return run_diffusers(scheduler, eps_fn, x_T_ref, steps, generators=ref_noise.generators if eta > 0 else None,
                             eta=eta, use_clipped_model_output=False)  # the direction term keeps the model's ε

    assert_parity(ours, build, run)


@needs_diffusers
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("sde", [False, True])
def test_dpmpp_2m_matches_diffusers(kind, steps, clip, sde):
    eps_fn = make_eps_fn(kind)
    x_T, noise = start(13, 4)
    ours = (dpmpp_2m_sde if sde else dpmpp_2m)(eps_fn, make_schedule(kind, T), x_T, steps, noise, clip=clip)

    def build():
        return diffusers.DPMSolverMultistepScheduler(
            **common_config(kind),
            algorithm_type="sde-dpmsolver++" if sde else "dpmsolver++",  # DPM-Solver++(2M), Lu et al., or its SDE form
            solver_order=2, solver_type="midpoint",
            lower_order_final=True, euler_at_final=False, final_sigmas_type="zero",  # diffusers' usual ending
            thresholding=clip, sample_max_value=1.0,  # its dynamic threshold, clamped to [1, 1], is clipping to ±1
            lambda_min_clipped=-float("inf"),  # no λ clipping: every trailing step is taken
            use_karras_sigmas=False, use_exponential_sigmas=False, use_beta_sigmas=False, use_lu_lambdas=False)

    def run(scheduler):
        x_T_ref, ref_noise = start(13, 4)  # the SDE form: diffusers draws z from our generators, in our order
        return run_diffusers(scheduler, eps_fn, x_T_ref, steps, generators=ref_noise.generators if sde else None)

    assert_parity(ours, build, run)


def test_dpmpp_2m_sde_draws_noise_and_the_ode_does_not():
    eps_fn, schedule = make_eps_fn(), cosine_schedule(T)
    x_T, _ = start(9, 2)
    ode = [dpmpp_2m(eps_fn, schedule, x_T, 10, SampleNoise(seed, 2)) for seed in (1, 2)]
    sde = [dpmpp_2m_sde(eps_fn, schedule, x_T, 10, SampleNoise(seed, 2)) for seed in (1, 2)]
    assert torch.equal(ode[0], ode[1])  # the probability-flow ODE: x_T decides everything
    assert (sde[0] - sde[1]).abs().max() > 1e-3 and (sde[0] - ode[0]).abs().max() > 1e-3


def test_parity_function_is_not_trivial():
    """Guard against a parity test passing because every sampler returns the same thing."""
    eps_fn, schedule = make_eps_fn(), linear_schedule(T)
    outs = []
    for fn in SAMPLERS.values():
        x_T, noise = start(3, 2)
        outs.append(fn(eps_fn, schedule, x_T, 10, noise))
    assert (outs[0] - outs[1]).abs().max() > 1e-3 and (outs[1] - outs[2]).abs().max() > 1e-3


# --------------------------------------------------------------------------------------------- seeding

@pytest.mark.parametrize("name,eta", [("ddpm", 0.0), ("ddim", 0.5), ("ddim", 0.0), ("dpmpp-2m", 0.0),
                                      ("dpmpp-2m-sde", 0.0)])
def test_deterministic_by_seed(name, eta):
    eps_fn, schedule = make_eps_fn(), cosine_schedule(T)
    x1, n1 = start(5, 3)
    x2, n2 = start(5, 3)
    a = SAMPLERS[name](eps_fn, schedule, x1, 10, n1, eta=eta)
    b = SAMPLERS[name](eps_fn, schedule, x2.double(), 10, n2, eta=eta)  # works in float32 whatever x_T's dtype
    assert torch.equal(a, b) and a.dtype == torch.float32 and a.shape == x1.shape


@pytest.mark.parametrize("name,eta,steps", [("ddpm", 0.0, 10), ("ddpm", 0.0, T), ("ddim", 0.5, 10),
                                            ("dpmpp-2m", 0.0, 10), ("dpmpp-2m-sde", 0.0, 10)])
def test_sample_regenerates_alone(name, eta, steps):
    eps_fn, schedule = make_eps_fn(), linear_schedule(T)
    x_T, noise = start(42, 6)
    batch = SAMPLERS[name](eps_fn, schedule, x_T, steps, noise, eta=eta)
    x_T3, noise3 = start(42, [3])
    alone = SAMPLERS[name](eps_fn, schedule, x_T3, steps, noise3, eta=eta)
    # 1e-5: the same arithmetic per sample; only CPU conv kernels may round differently at batch size 1 vs 6.
    assert (batch[3:4] - alone).abs().max().item() < 1e-5


def test_neighbouring_seeds_share_no_noise():
    draws = {seed: SampleNoise(seed, 4).randn(64) for seed in (100, 101)}
    a, b = draws[100], draws[101]
    assert not any(torch.equal(a[i], b[j]) for i in range(4) for j in range(4))
    # No row of seed S is (anti-)correlated with any row of S+1, as it would be if S+1 reused S's stream shifted.
    corr = torch.corrcoef(torch.cat([a, b]))[:4, 4:]
    assert corr.abs().max().item() < 0.5
    eps_fn, schedule = make_eps_fn(), linear_schedule(T)
    x_T, _ = start(100, 2)
    outs = [ddpm(eps_fn, schedule, x_T, 10, SampleNoise(seed, 2)) for seed in (100, 101)]
    assert (outs[0] - outs[1]).abs().max() > 1e-3  # same start, different ancestral noise


# --------------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("steps", [0, T + 1])
def test_bad_steps_is_one_line_config_error(name, steps):
    x_T, noise = start(0, 1)
    with pytest.raises(ConfigError) as info:
        SAMPLERS[name](make_eps_fn(), linear_schedule(T), x_T, steps, noise)
    assert str(info.value) == f"--sample-steps must be from 1 to {T} for this model's schedule, got {steps}"


def test_samplers_are_registered():
    from genforge.core.registry import SAMPLERS as REGISTRY

    assert all(REGISTRY.get(name) is fn for name, fn in SAMPLERS.items())


# --------------------------------------------------------------------------------------------- guidance

class CountingCond:
    """A conditional ε-network stand-in that records the batch size of every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.eps_fn = make_eps_fn()

    def __call__(self, x, t, y):
        self.calls.append(x.shape[0])
        return self.eps_fn(x, t) + 0.1 * (y.to(x.dtype) + 1).view(-1, 1, 1, 1)


def test_guidance_scale_one_is_the_conditional_model():
    cond, labels = CountingCond(), torch.tensor([0, 2, 1])
    x, t = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0)), torch.full((3,), 30)
    out = guided(cond, labels, null_label=10, scale=1.0, interval=None, T=T)(x, t)
    assert torch.equal(out, cond(x, t, labels)) and cond.calls == [3, 3]


def test_guidance_is_one_batched_pass():
    cond, labels = CountingCond(), torch.tensor([0, 2, 1])
    x, t = torch.randn(3, *SHAPE, generator=torch.Generator().manual_seed(0)), torch.full((3,), 30)
    out = guided(cond, labels, null_label=10, scale=3.0, interval=None, T=T)(x, t)
    assert cond.calls == [6]
    e_c, e_null = cond(x, t, labels), cond(x, t, torch.full_like(labels, 10))
    torch.testing.assert_close(out, e_null + 3.0 * (e_c - e_null), rtol=0, atol=1e-6)


def test_guidance_interval():
    cond, labels = CountingCond(), torch.tensor([0, 2])
    x = torch.randn(2, *SHAPE, generator=torch.Generator().manual_seed(0))
    eps_fn = guided(cond, labels, null_label=10, scale=4.0, interval=(0.5, 0.9), T=T)
    t_out = torch.full((2,), 10)  # t/T = 0.2: outside, plain conditional ε from one pass of size n
    assert torch.equal(eps_fn(x, t_out), cond(x, t_out, labels)) and cond.calls[0] == 2
    t_in = torch.full((2,), 30)  # t/T = 0.6: inside, guided
    plain = guided(cond, labels, null_label=10, scale=4.0, interval=None, T=T)(x, t_in)
    torch.testing.assert_close(eps_fn(x, t_in), plain, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="--guidance-interval must be two numbers"):
        guided(cond, labels, 10, 4.0, (0.9, 0.5), T)


# --------------------------------------------------------------------------------------------- objective

@pytest.mark.parametrize("prediction", ["epsilon", "v"])
def test_denoising_loss_is_zero_for_the_exact_target(prediction):
    schedule = linear_schedule(T)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(4, *SHAPE, generator=g) * 2 - 1, torch.randn(4, *SHAPE, generator=g)
    t = sample_timesteps(4, T, g)
    target = eps if prediction == "epsilon" else v_target(schedule, x0, t, eps)
    exact = denoising_loss(lambda x_t, tt: target, schedule, x0, t, eps, prediction=prediction)
    assert exact.item() == 0.0
    zero = denoising_loss(lambda x_t, tt: torch.zeros_like(x_t), schedule, x0, t, eps, prediction=prediction)
    torch.testing.assert_close(zero, target.pow(2).mean())
    with pytest.raises(ConfigError):
        denoising_loss(lambda x_t, tt: target, schedule, x0, t, eps, prediction="x0")


def test_sample_timesteps_uniform_and_seeded():
    t = sample_timesteps(20000, T, torch.Generator().manual_seed(1))
    assert t.dtype == torch.long and int(t.min()) == 0 and int(t.max()) == T - 1
    assert torch.equal(t, sample_timesteps(20000, T, torch.Generator().manual_seed(1)))
    counts = torch.bincount(t, minlength=T).double()
    # Each count ~ Binomial(20000, 1/50): mean 400, sd ≈ 19.8; 5 sd.
    assert (counts - 400).abs().max().item() < 5 * math.sqrt(20000 * (1 / T) * (1 - 1 / T))


def test_schedule_is_frozen():
    schedule = linear_schedule(10)
    with pytest.raises(AttributeError):
        schedule.betas = torch.zeros(10, dtype=torch.float64)
    assert isinstance(schedule, Schedule)
