"""GAN losses and penalties against their papers' formulas; DiffAugment behaviour."""
import math

import pytest
import torch

from genforge.core.registry import GAN_LOSSES, GAN_PENALTIES
from genforge.training.diffaugment import cutout, diff_augment, translation

R = torch.tensor([2.0, -0.5, 0.3])
F_ = torch.tensor([-1.0, 0.7, 1.5])


def sig(t):
    return 1 / (1 + math.exp(-t))


def test_bce_is_the_classic_gan_loss():
    loss = GAN_LOSSES.get("bce")()
    d = sum(-math.log(sig(r)) for r in R.tolist()) / 3 + sum(-math.log(1 - sig(f)) for f in F_.tolist()) / 3
    g = sum(-math.log(sig(f)) for f in F_.tolist()) / 3  # non-saturating
    assert loss.d_loss(R, F_).item() == pytest.approx(d, rel=1e-6)
    assert loss.g_loss(F_).item() == pytest.approx(g, rel=1e-6)


def test_hinge_and_wasserstein():
    h = GAN_LOSSES.get("hinge")()
    d = sum(max(0, 1 - r) for r in R.tolist()) / 3 + sum(max(0, 1 + f) for f in F_.tolist()) / 3
    assert h.d_loss(R, F_).item() == pytest.approx(d, rel=1e-6)
    assert h.g_loss(F_).item() == pytest.approx(-F_.mean().item())
    w = GAN_LOSSES.get("wasserstein")()
    assert w.d_loss(R, F_).item() == pytest.approx(F_.mean().item() - R.mean().item())


class Linear(torch.nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere, so the penalties have closed forms."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x, y=None):
        return (x.flatten(1) * self.w).sum(1)


def test_penalties_closed_form():
    w = torch.full((1 * 2 * 2,), 0.5)  # ‖w‖ = 1 -> GP is zero
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    g = torch.Generator().manual_seed(0)
    gp = GAN_PENALTIES.get("gp")
    assert gp(Linear(w), real, fake, None, 10.0, g).item() == pytest.approx(0.0, abs=1e-5)
    assert gp(Linear(2 * w), real, fake, None, 10.0, g).item() == pytest.approx(10.0 * (2 - 1) ** 2, rel=1e-5)
    r1 = GAN_PENALTIES.get("r1")
    assert r1(Linear(3 * w), real, fake, None, 10.0, g).item() == pytest.approx(0.5 * 10 * 9, rel=1e-5)
    assert GAN_PENALTIES.get("none")(Linear(w), real, fake, None, 1.0, g).item() == 0


def test_penalty_gradients_reach_the_discriminator():
    D = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    f = lambda x, y=None: D(x).squeeze(1)  # noqa: E731
    real = torch.randn(4, 1, 2, 2)
    for name in ("gp", "r1"):
        D.zero_grad()
        GAN_PENALTIES.get(name)(f, real, torch.randn(4, 1, 2, 2), None, 1.0, torch.Generator().manual_seed(0)).backward()
        assert D[1].weight.grad.abs().sum() > 0


def test_diffaugment_is_seeded_and_shape_preserving():
    x = torch.randn(6, 3, 16, 16)
    a = diff_augment(x, ("color", "translation", "cutout"), torch.Generator().manual_seed(1))
    b = diff_augment(x, ("color", "translation", "cutout"), torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, diff_augment(x, ("color", "translation", "cutout"), torch.Generator().manual_seed(2)))


def test_translation_shifts_and_cutout_zeroes_a_quarter():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4, 4] = 1
    moved = translation(x, torch.Generator().manual_seed(3))
    assert moved.sum() in (0, 1)  # shifted within ±1 px, or out of frame
    ones = torch.ones(50, 1, 8, 8)
    cut = cutout(ones, torch.Generator().manual_seed(0))
    zeros = (cut == 0).flatten(1).sum(1).float()
    assert zeros.max() <= 16 and zeros.mean() > 6  # a 4x4 square, sometimes clipped by the border
