"""The GAN task under every registered loss, penalty and option: a few steps, finite losses."""
import json
import math

import pytest
import torch

from conftest import TINY
from genforge.api import train
from genforge.core.config import build_config
from genforge.core.registry import GAN_LOSSES, GAN_PENALTIES
from genforge.data.imageset import DataInfo
from genforge.training.gan import GANTask

INFO = DataInfo(1, 8, 10, tuple("0123456789"), (0.3,), (0.3,), "h", "p", 100, 10, 10)
SMALL = ["model.g_channels=8", "model.d_channels=8", "model.z_dim=8", "model.embed_dim=4"]


def _steps(overrides, model="cgan", n=4):
    cfg = build_config(overrides=SMALL + [f'model.name="{model}"'] + overrides)
    torch.manual_seed(0)
    task = GANTask(cfg, INFO, torch.device("cpu"))
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    y = torch.arange(8) % 10
    return [{k: float(v) for k, v in task.train_step({"x": x, "y": y}, i).items()} for i in range(n)]


@pytest.mark.parametrize("loss", GAN_LOSSES.names())
@pytest.mark.parametrize("penalty", GAN_PENALTIES.names())
def test_every_loss_and_penalty_trains(loss, penalty):
    out = _steps([f'model.loss="{loss}"', f'model.penalty="{penalty}"'])
    assert all(math.isfinite(v) for step in out for v in step.values())
    assert (out[-1]["penalty"] > 0) == (penalty != "none")


@pytest.mark.parametrize("option", [
    ['model.diffaugment="on"', 'model.diffaugment_policy=["color","translation","cutout"]'],
    ["model.mode_seeking_weight=0.5"],
    ["model.aux_classifier=false"],
    ["model.d_steps=2"],
    ["model.spectral_norm=false"],
])
def test_options_train(option):
    out = _steps(option)
    assert all(math.isfinite(v) for step in out for v in step.values())
    if "model.mode_seeking_weight=0.5" in option:
        assert out[0]["mode_seeking"] > 0
    if "model.aux_classifier=false" in option:
        assert "aux_d" not in out[0]


def test_dcgan_ignores_labels():
    out = _steps([], model="dcgan")
    assert "aux_d" not in out[0] and all(math.isfinite(v) for v in out[-1].values())


def test_linear_decay_reaches_the_last_step(tmp_path):
    train(out=tmp_path / "r", steps=20, overrides=TINY + ["optim.decay_start=0.5"], log=lambda m: None)
    groups = json.loads((tmp_path / "r/checkpoints/20/optim-generator.json").read_text())["param_groups"]
    base = groups[0]["initial_lr"]
    assert groups[0]["lr"] == pytest.approx(base * (20 - 19) / (20 - 10))
