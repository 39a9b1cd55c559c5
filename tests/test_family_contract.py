"""The family contract (DESIGN §2a): a minimal non-GAN family, like Lightning's BoringModel, goes through train,
resume, load, sample and eval without any shared layer knowing it.

"boring" learns a per-pixel mean image by mean-squared error and samples mean + σ·noise. Its network is
called "mean" (no "generator"), its task "boring", its sampler its own, and its selection metric
"val_neg_mse" is higher-is-better, so every place that assumed "lower is better" or GAN names shows up here.
"""
from __future__ import annotations

import json
from typing import Literal

import pytest
import torch
from torch import nn

from conftest import TINY
from genforge.api import evaluate_run, load, train
from genforge.core import checkpoint as ck
from genforge.core.config import ModelSection, OptimizerSettings
from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS, SAMPLERS, SELECTION_METRICS, TASKS
from genforge.data.transforms import to_unit
from genforge.evaluation.evaluate import EvalSettings
from genforge.models.spec import ModelSpec, SamplingSpec
from genforge.sampling.request import SampleRequest
from genforge.training.task import image_batch


class MeanImage(nn.Module):
    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(1, channels, size, size))
        self.log_sigma = nn.Parameter(torch.full((1,), -1.0))


@torch.no_grad()
def sample_boring(net: MeanImage, request, labels, noise) -> torch.Tensor:
    """mean + σ·ε, ε drawn per sample (``noise``); ``eta`` scales σ (a request field this family reads)."""
    eps = noise.randn(*net.mean.shape[1:])
    return (net.mean + request.eta * net.log_sigma.exp() * eps).clamp(-1, 1)


class BoringConfig(ModelSection):
    """The family's own config section: keys no other family has."""

    name: Literal["boring"] = "boring"
    jitter: float = 0.01


class BoringTask:
    conditional = False

    def __init__(self, cfg, info, device) -> None:
        self.net = MeanImage(info.channels, info.image_size).to(device)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=cfg.optim.network("mean").lr)
        self.jitter = cfg.model.jitter
        self.rng = torch.Generator().manual_seed(cfg.train.seed)
        self.device = device

    def networks(self):
        return {"mean": self.net}

    def optimizers(self):
        return {"mean": self.opt}

    def generators(self):
        return {"noise": self.rng}

    def batch(self, data, idx):
        return image_batch(data, idx, self.device)

    def train_step(self, batch, step):
        x = batch["x"]
        jitter = self.jitter * torch.randn(x.shape, generator=self.rng)  # the task's own RNG, saved for exact resume
        mse = ((x + jitter - self.net.mean) ** 2).mean()
        spread = (x.std(0).mean().log() - self.net.log_sigma).pow(2).mean()
        self.opt.zero_grad()
        (mse + spread).backward()
        self.opt.step()
        return {"mse": mse.detach(), "spread": spread.detach()}


class ValNegMSE:
    """−MSE between the validation images and the mean image: higher is better."""

    higher_is_better = True

    def __init__(self, data, n_samples, seed, log=print) -> None:
        self.real = to_unit((data.val if len(data.val) else data.train).x)
        self.seed, self.last_seconds = seed, 0.0

    def __call__(self, sample_fn, networks) -> float:
        fake = sample_fn(64, None, self.seed)
        return -float(((self.real.mean(0) - fake.mean(0)) ** 2).mean())


@pytest.fixture(scope="module", autouse=True)
def boring_family():
    MODELS.register("boring")(ModelSpec(build=lambda cfg, info: {"mean": MeanImage(info.channels, info.image_size)},
                                        task="boring", conditional=False, sample_net="mean", sample=sample_boring,
                                        sampling=SamplingSpec(("boring-noise",), {"eta": 1.0}),
                                        selection_metric="val_neg_mse", config=BoringConfig,
                                        optimizers={"mean": OptimizerSettings(lr=0.5)}))
    SAMPLERS.register("boring-noise")(sample_boring)
    TASKS.register("boring")(BoringTask)
    SELECTION_METRICS.register("val_neg_mse")(ValNegMSE)
    yield
    MODELS.unregister("boring")
    TASKS.unregister("boring")
    SELECTION_METRICS.unregister("val_neg_mse")
    SAMPLERS.unregister("boring-noise")


OVERRIDES = [o for o in TINY if not o.startswith("model.")] + ['model.name="boring"', "train.eval_every=5", 'optim.schedule="constant"']


def _losses(run):
    return [(r["step"], r["mse"], r["spread"]) for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
            if "mse" in r]


def test_boring_family_trains_resumes_exactly_loads_samples_and_evaluates(tmp_path):
    quiet = lambda m: None  # noqa: E731
    full, cut = tmp_path / "full", tmp_path / "cut"
    r = train(out=full, steps=30, overrides=OVERRIDES, log=quiet)
    assert r.metric == "val_neg_mse" and r.best_value is not None and r.best_value < 0
    # the Trainer logged the family's own losses, and the selection went up (higher is better) as the mean was learnt
    evals = [json.loads(line)["eval"]["val_neg_mse"] for line in (full / "metrics.jsonl").read_text().splitlines()
             if '"eval"' in line]
    assert evals[-1] > evals[0]
    best = ck.best_checkpoint(ck.partition(full / "checkpoints")[0])
    assert best.state()["selection"] == max(evals) and best.state()["selection_direction"] == "higher"

    train(out=cut, steps=17, overrides=OVERRIDES, log=quiet)  # stop after 17 (crosses epochs, evals, checkpoints)
    train(resume=cut, steps=30, log=quiet)
    assert _losses(cut) == _losses(full)  # bit-exact resume of a non-GAN family

    gen = load(full)
    assert gen.checkpoint.step == best.step and set(gen.net.state_dict()) == {"mean", "log_sigma"}
    a, b = gen.sample(5, seed=3), gen.sample(5, seed=3)
    assert a.shape == (5, 1, 8, 8) and a.dtype == torch.uint8 and torch.equal(a, b)
    assert torch.equal(gen.sample(1, seed=3, indices=[2]), a[2:3])  # sample 2 regenerated alone
    # the family's own request field reaches its sampler; one it does not read is refused by name
    flat = gen.sample(5, seed=3, request=SampleRequest(eta=0.0))
    assert (flat.float().std(0) == 0).all() and not torch.equal(flat, a)
    with pytest.raises(ConfigError, match="--truncation does not apply to boring"):
        gen.sample(5, seed=3, request=SampleRequest(truncation=1.0))

    result = evaluate_run(full, EvalSettings(n=40, resamples=2, cas=False), log=quiet)
    assert {"fid", "kid_mean"} <= set(result["metrics"])
    assert "membership_auc_critic" not in result["metrics"]  # no critic declared: the attack is skipped, not faked
