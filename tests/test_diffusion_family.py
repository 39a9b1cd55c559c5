"""The diffusion family through the paths users run: train, exact resume, load, the three samplers, per-sample
regeneration, request errors, an unconditional run on unlabelled data, and the membership score."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genforge.api import evaluate_run, load, train
from genforge.core import checkpoint as ck
from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS
from genforge.data.imageset import DataInfo
from genforge.evaluation.evaluate import EvalSettings
from genforge.models.diffusion import make_schedule, predict_x0
from genforge.models.diffusion_family import DiffusionConfig, build_diffusion, clip_x0
from genforge.sampling.request import SampleRequest

QUIET = lambda m: None  # noqa: E731
# 8x8 digits, 200 items, batch 16 (~10 steps an epoch); a 2-level width-8 U-Net on a 50-step schedule. A constant
# learning rate, so that a run cut at step 17 follows the same schedule as the full one (linear decay depends on steps)
TINY = ['optim.schedule="constant"', 'data.name="digits"', "data.max_items=200", "train.batch_size=16", "train.eval_every=10",
        "train.checkpoint_every=10", "train.eval_samples=64", "train.keep_last=5", "train.log_every=1",
        'model.name="diffusion"', "model.width=8", "model.mults=[1,2]", "model.timesteps=50"]
STEPS = 30


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("diffusion") / "full"
    train(out=out, steps=STEPS, overrides=TINY, log=QUIET)
    return out


def _losses(run_dir):
    rows = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_trains_selects_by_val_fjd_and_keeps_the_ema(run):
    losses = _losses(run)
    assert [s for s, _ in losses] == list(range(1, STEPS + 1)) and all(np.isfinite(v) for _, v in losses)
    best = ck.best_checkpoint(ck.partition(run / "checkpoints")[0])
    assert best.state()["selection_metric"] == "val_fjd" and best.state()["selection_direction"] == "lower"
    assert {p.stem for p in best.path.glob("*.safetensors")} >= {"denoiser", "ema"}
    gen = load(run)
    # the schedule is rebuilt from the config, never saved: the weights are the U-Net's alone
    assert all(k.startswith("unet.") for k in gen.net.state_dict()) and gen.net.schedule.T == 50
    assert gen.conditional and gen.net.unet.num_classes == 10
    assert gen.request == SampleRequest(sampler="dpmpp-2m", sample_steps=10, guidance=1.5, eta=0.0)


def test_resume_is_bit_exact(run, tmp_path):
    cut = tmp_path / "cut"
    train(out=cut, steps=17, overrides=TINY, log=QUIET)  # stops mid-epoch, between evaluations and checkpoints
    train(resume=cut, steps=STEPS, log=QUIET)
    assert _losses(cut) == _losses(run)


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp-2m", "dpmpp-2m-sde"])
def test_each_sampler_is_deterministic_by_seed(run, sampler):
    gen = load(run)
    req = SampleRequest(sampler=sampler, sample_steps=5)
    a, b = gen.sample(4, [0, 1, 2, 3], seed=7, request=req), gen.sample(4, [0, 1, 2, 3], seed=7, request=req)
    assert a.shape == (4, 1, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert not torch.equal(a, gen.sample(4, [0, 1, 2, 3], seed=8, request=req))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp-2m-sde"])  # ddpm and the SDE draw noise at every step
def test_a_sample_regenerates_alone(run, sampler):
    """Sample 3 alone equals sample 3 of a batch of 6. A batch of 1 and a batch of 6 may sum in another order
    (BLAS blocking), so the float images may differ by ~1e-6; in uint8 that is at most one level."""
    gen = load(run)
    req = SampleRequest(sampler=sampler, sample_steps=10)
    batch = gen.sample(6, 4, seed=5, request=req)
    alone = gen.sample(1, 4, seed=5, request=req, indices=[3])
    assert (alone.int() - batch[3:4].int()).abs().max() <= 1


def test_request_errors_are_one_line(run):
    gen = load(run)
    with pytest.raises(ConfigError, match=r"--sample-steps must be from 1 to 50") as err:
        gen.sample(2, seed=0, request=SampleRequest(sample_steps=51))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--truncation does not apply to diffusion"):
        gen.sample(2, seed=0, request=SampleRequest(truncation=1.0))
    with pytest.raises(ConfigError, match="unknown sampler 'direct' for diffusion"):
        gen.sample(2, seed=0, request=SampleRequest(sampler="direct"))


def test_guidance_changes_samples_and_one_is_the_conditional_model(run):
    gen = load(run)
    req = lambda g: SampleRequest(sample_steps=5, guidance=g)  # noqa: E731
    a, b = gen.sample(4, 2, seed=1, request=req(1.0)), gen.sample(4, 2, seed=1, request=req(4.0))
    assert not torch.equal(a, b)
    # a guidance interval that excludes every visited t/T is the plain conditional model
    outside = SampleRequest(sample_steps=5, guidance=4.0, guidance_interval=(0.0, 0.01))
    assert torch.equal(gen.sample(4, 2, seed=1, request=outside), a)


def test_membership_score_is_finite_per_image(run):
    gen = load(run)
    nets = {"ema": gen.net}
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    scores = MODELS.get("diffusion").membership(nets, x, torch.arange(5), torch.Generator().manual_seed(0))
    assert scores.shape == (5,) and torch.isfinite(scores).all() and (scores < 0).all()
    again = MODELS.get("diffusion").membership(nets, x, torch.arange(5), torch.Generator().manual_seed(0))
    assert torch.equal(scores, again)


def test_eval_runs_the_denoising_membership_attack(run):
    result = evaluate_run(run, EvalSettings(n=40, resamples=2, cas=False), log=QUIET)
    assert {"fid", "membership_auc_critic"} <= set(result["metrics"])


def test_unlabelled_data_trains_an_unconditional_model(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "blobs.npz"
    np.savez(data, x=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8))  # no 'y': unlabelled
    overrides = [o for o in TINY if not o.startswith("data.")] + [f'data.name="{data}"']
    out = tmp_path / "uncond"
    train(out=out, steps=4, overrides=overrides, log=QUIET)
    gen = load(out)
    assert not gen.conditional and gen.net.unet.num_classes == 0
    with pytest.raises(ConfigError, match="--guidance needs a class-conditional model"):
        gen.sample(3, seed=0, request=SampleRequest(guidance=2.0))
    # the family's default guidance is not a --guidance the user gave: an unconditional run samples without one
    assert gen.request.guidance is None
    assert gen.sample(3, seed=0, request=SampleRequest(sample_steps=3)).shape == (3, 1, 8, 8)


def _info(size: int, classes: int = 10) -> DataInfo:
    return DataInfo(1, size, classes, tuple(str(i) for i in range(classes)), (0.5,), (0.25,), "h", "p", 100, 10, 10)


def test_patch_auto_folds_2x2_pixels_into_channels_from_16px():
    """patch=auto: 2 from 16px on (the U-Net sees 4 channels at half size), 1 below; images keep their shape."""
    torch.manual_seed(0)
    net = build_diffusion(DiffusionConfig(width=8), _info(16))["denoiser"]
    assert (net.unet.channels, net.unet.image_size, net.channels, net.image_size) == (4, 8, 1, 16)
    x, t = torch.randn(3, 1, 16, 16), torch.tensor([0, 500, 999])
    assert net(x, t, torch.tensor([0, 1, 10])).shape == (3, 1, 16, 16)
    assert build_diffusion(DiffusionConfig(width=8), _info(8))["denoiser"].unet.image_size == 8  # too small to fold
    for size in (17, 8):
        with pytest.raises(ConfigError, match="model.patch=2 needs an image size divisible by 2 and at least 16px"):
            build_diffusion(DiffusionConfig(width=8, patch=2), _info(size))


def test_clip_x0_gives_the_eps_of_the_clipped_x0():
    """ε̂' implies x̂_0 = clip(x̂_0): unchanged where x̂_0 lies inside [-1, 1], pulled back where it does not."""
    schedule = make_schedule("cosine", 1000)
    g = torch.Generator().manual_seed(0)
    x_t, t = torch.randn(4, 1, 8, 8, generator=g), torch.tensor([10, 300, 700, 999])
    eps = 3 * torch.randn(4, 1, 8, 8, generator=g)  # far off: most x̂_0 land outside [-1, 1]
    x0 = predict_x0(schedule, x_t, t, eps)
    out = clip_x0(lambda x, t_: eps, schedule)(x_t, t)
    assert torch.allclose(predict_x0(schedule, x_t, t, out), x0.clamp(-1, 1), atol=1e-3)
    inside = x0.abs() <= 1
    assert inside.any() and torch.allclose(out[inside], eps[inside], atol=1e-3)
