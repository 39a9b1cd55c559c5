"""The downstream model of `genforge augment`: what it trains on (a recipe) and how it is scored.

The lift machinery sees only a ``TrainAndScore`` callable, (recipe, seed, split) -> one 0/1 score per item
of that split, so a text task can plug in its own model and data. ``ImageDownstream`` is the image one:
a small CNN (the CAS classifier: fast, the default) or a wider ResNet-style network (``--downstream
resnet``: gains can vanish with a stronger classifier), Adam with a one-cycle schedule, batches mixed by
share (``mixing``), classic augmentation by strength, affine or affine + elastic (``classic``). Its test
split is reachable only through a ``TestReads`` guard, which allows reads only after the recipe is fixed and logs each one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genforge.augment.classic import classic_augment
from genforge.augment.mixing import batches, mix_plan
from genforge.data.imageset import DataInfo, ImageSet
from genforge.data.transforms import to_unit
from genforge.evaluation.classifier import SmallCNN, predict

ARMS = ("none", "classic", "synthetic", "classic+synthetic", "synthetic-only")
SYNTHETIC_ARMS = ("synthetic", "classic+synthetic")
BASELINE_ARMS = ("none", "classic")


@dataclass(frozen=True)
class Recipe:
    """How one arm trains: classic strength (and elastic or not), synthetic share of each batch, which pool."""

    arm: str
    strength: float = 0.0  # classic augmentation (0 = none)
    share: float = 0.0  # synthetic images per batch (0 = real only, 1 = synthetic only)
    pool: str | None = None  # key of the synthetic pool (generator request and filtering)
    elastic: bool = False  # classic augmentation adds an elastic distortion of the same strength

    def to_json(self) -> dict:
        return asdict(self)


# (recipe, classifier seed, "val" | "test") -> (items,) float array of 1 (correct) / 0
TrainAndScore = Callable[[Recipe, int, str], np.ndarray]


class ResNetSmall(nn.Module):
    """A wider ResNet-style classifier (He et al. 2016): three stages of two basic blocks, widths w, 2w, 4w."""

    def __init__(self, channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        c = width
        for i, out in enumerate((width, 2 * width, 4 * width)):
            layers += [_Block(c, out, 1 if i == 0 else 2), _Block(out, out, 1)]
            c = out
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.skip(x))


MODELS = {"cnn": lambda info: SmallCNN(info.channels, info.num_classes, 16, info.mean, info.std),
          "resnet": lambda info: ResNetSmall(info.channels, info.num_classes, 32)}


def train_downstream(real: ImageSet, synthetic: ImageSet | None, recipe: Recipe, info: DataInfo, base_updates: int,
                     seed: int, model: str = "cnn", lr: float = 2e-3, batch: int = 64) -> nn.Module:
    """Train one downstream classifier by ``recipe``; the caller's global RNG is left untouched."""
    n_syn = 0 if synthetic is None else len(synthetic)
    plan = mix_plan(base_updates, batch, recipe.share, len(real), n_syn)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = MODELS[model](info)
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=plan.updates)
        xr, yr = to_unit(real.x), real.y
        xs, ys = (to_unit(synthetic.x), synthetic.y) if synthetic is not None else (xr[:0], yr[:0])
        net.train()
        for step, (ir, js) in enumerate(batches(plan, len(real), n_syn, g)):
            x, y = torch.cat([xr[ir], xs[js]]), torch.cat([yr[ir], ys[js]])
            loss = F.cross_entropy(net(classic_augment(x, recipe.strength, recipe.elastic, g)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < plan.updates - 1:
                sched.step()
    return net.eval()


def correct(net: nn.Module, items: ImageSet) -> np.ndarray:
    logits, _ = predict(net, to_unit(items.x))  # type: ignore[arg-type]  (any net with .features and .head)
    return (logits.argmax(1) == items.y).numpy().astype(np.float64)


class ImageDownstream:
    """``TrainAndScore`` for labelled images: the real subset, the synthetic pools, val, and the guarded test split."""

    def __init__(self, real: ImageSet, pools: dict[str, ImageSet], val: ImageSet, test_reads, info: DataInfo,
                 base_updates: int, model: str = "cnn") -> None:
        self.real, self.pools, self.val, self.test_reads, self.info = real, pools, val, test_reads, info
        self.base_updates, self.model = base_updates, model

    def __call__(self, recipe: Recipe, seed: int, split: str) -> np.ndarray:
        items = self.val if split == "val" else self.test_reads.read(recipe, seed)
        synthetic = self.pools[recipe.pool] if recipe.pool is not None else None
        net = train_downstream(self.real, synthetic, recipe, self.info, self.base_updates, seed, self.model)
        return correct(net, items)
