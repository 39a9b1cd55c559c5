"""A small CNN image classifier trained on a dataset's own train split.

Used as the acceptance judge (reported conditional accuracy) and, with another seed and width,
as the selector whose features drive checkpoint selection; the two are never the same model.
Trained models are cached by the data's prep hash (``GENFORGE_CACHE``, default
``~/.cache/genforge``) as safetensors + JSON.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from genforge.core.checkpoint import atomic_write_text, sha256_file
from genforge.data.imageset import DataInfo, ImageSet, hash_parts
from genforge.data.transforms import to_unit


class SmallCNN(nn.Module):
    """conv-pool x2 -> conv -> global average pool -> features (B, 4w) -> logits."""

    def __init__(self, channels: int, num_classes: int, width: int = 32, mean=(0.5,), std=(0.5,)) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1) * 2 - 1)  # stats in [-1, 1] units
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1) * 2)
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(4 * width, max(num_classes, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x in [-1, 1], (B, C, H, W) -> penultimate features (B, 4w)."""
        return self.body((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass(frozen=True)
class ClassifierSpec:
    role: str  # "judge" | "selector"
    width: int
    epochs: int
    seed: int
    lr: float = 2e-3
    batch_size: int = 64
    steps: int | None = None  # optimizer updates; None = `epochs` full epochs, at least `min_steps`
    min_steps: int | None = None  # small datasets: a floor on updates, so 300 images still train a usable model


# The floors equal what the epochs give on bundled MNIST's 4,000 train images (620 and 248 updates),
# so they change nothing there and keep small datasets from getting a judge trained for 40 updates.
JUDGE = ClassifierSpec("judge", width=32, epochs=10, seed=1, min_steps=600)
SELECTOR = ClassifierSpec("selector", width=16, epochs=4, seed=2, min_steps=240)


def _shift(x: torch.Tensor, g: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Random translation by up to ``pad`` pixels (the only augmentation digits tolerate)."""
    b, _, h, w = x.shape
    padded = F.pad(x, [pad] * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
    return padded[:, :, dy : dy + h, dx : dx + w]


def train_classifier(train: ImageSet, info: DataInfo, spec: ClassifierSpec) -> SmallCNN:
    with torch.random.fork_rng():  # leave the caller's global RNG untouched
        return _train_classifier(train, info, spec)


def _train_classifier(train: ImageSet, info: DataInfo, spec: ClassifierSpec) -> SmallCNN:
    torch.manual_seed(spec.seed)  # weight init
    g = torch.Generator().manual_seed(spec.seed)
    net = SmallCNN(info.channels, info.num_classes, spec.width, info.mean, info.std)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    batch = min(spec.batch_size, len(train))
    per_epoch = max(len(train) // batch, 1)
    steps = spec.steps or max(spec.epochs * per_epoch, spec.min_steps or 0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=steps)
    x_all, y_all = to_unit(train.x), train.y
    net.train()
    step = 0
    while step < steps:  # whole epochs in a fresh order; the last one is cut at `steps`
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(order) - batch + 1, batch):
            if step == steps:
                break
            idx = order[i : i + batch]
            loss = F.cross_entropy(net(_shift(x_all[idx], g)), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
    return net.eval()


@torch.no_grad()
def predict(net: SmallCNN, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """x in [-1, 1] -> (logits, features), in batches, eval mode."""
    net.eval()
    device = next(net.parameters()).device
    logits, feats = [], []
    for i in range(0, len(x), batch_size):
        f = net.features(x[i : i + batch_size].to(device))
        feats.append(f.cpu())
        logits.append(net.head(f).cpu())
    return torch.cat(logits), torch.cat(feats)


def accuracy(net: SmallCNN, data: ImageSet) -> float:
    logits, _ = predict(net, to_unit(data.x))
    return float((logits.argmax(1) == data.y).float().mean())


def cache_dir() -> Path:
    return Path(os.environ.get("GENFORGE_CACHE", Path.home() / ".cache" / "genforge")).expanduser()


@dataclass(frozen=True)
class TrainedClassifier:
    net: SmallCNN
    test_accuracy: float
    sha256: str  # of the cached weights file: identifies the extractor in provenance
    seconds: float
    name: str


def get_classifier(train: ImageSet, test: ImageSet, info: DataInfo, spec: ClassifierSpec, log=print) -> TrainedClassifier:
    """Load from cache (keyed by data prep hash + spec) or train, evaluate on test, and cache."""
    fields = {k: v for k, v in spec.__dict__.items() if v is not None}  # unset fields keep older cache keys valid
    key = hash_parts(info.prep_hash, json.dumps(fields, sort_keys=True))[:20]
    name = f"{spec.role}-{key}"
    weights, meta_path = cache_dir() / f"{name}.safetensors", cache_dir() / f"{name}.json"
    if weights.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if sha256_file(weights) == meta["sha256"]:
                with torch.random.fork_rng():  # construction draws init weights; keep the global RNG
                    net = SmallCNN(info.channels, info.num_classes, spec.width, info.mean, info.std)
                net.load_state_dict(load_file(str(weights)))
                return TrainedClassifier(net.eval(), meta["test_accuracy"], meta["sha256"], 0.0, name)
        except (OSError, ValueError, KeyError, RuntimeError):
            pass  # a damaged cache entry is rebuilt below
    log(f"training the {spec.role} classifier on {len(train)} train images (cached afterwards) ...")
    t0 = time.perf_counter()
    net = train_classifier(train, info, spec)
    seconds = time.perf_counter() - t0
    acc = accuracy(net, test) if len(test) else float("nan")
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(weights.name + ".tmp")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, weights)
    digest = sha256_file(weights)
    atomic_write_text(meta_path, json.dumps({"sha256": digest, "test_accuracy": acc, "spec": spec.__dict__,
                                             "prep_hash": info.prep_hash, "seconds": seconds}, indent=2))
    return TrainedClassifier(net, acc, digest, seconds, name)
