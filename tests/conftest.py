"""Shared fixtures: a per-session classifier cache and tiny datasets made by code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _cache(tmp_path_factory):
    os.environ["GENFORGE_CACHE"] = str(tmp_path_factory.mktemp("gfcache"))
    os.environ.pop("GENFORGE_CRASH_AT", None)
    yield


# A tiny, fast config: 8x8 digits, 200 items, batch 16 -> ~10 steps per epoch.
TINY = [
    'data.name="digits"', "data.max_items=200", "train.batch_size=16", "train.log_every=1",
    "train.eval_every=10", "train.checkpoint_every=10", "train.eval_samples=64", "train.keep_last=5",
    "model.g_channels=8", "model.d_channels=8", "model.z_dim=16", "model.embed_dim=8",
]


def run_cli(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "genforge", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


def write_image_folder(root: Path, classes=("a", "b"), per_class=6, size=16, mode="L", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size, size) if mode == "L" else (size, size, 3)
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(root / c / f"img_{i:03d}.png")
    return root


def write_npz(path: Path, n: int, size: int = 8, seed: int = 0) -> Path:
    """n random size x size grayscale images with two alternating labels."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, size, size), dtype=np.uint8), y=np.arange(n) % 2)
    return path


def train_on_npz(tmp_path: Path, n: int, **train_kw) -> tuple[Path, Path]:
    """A TINY run trained on a fresh .npz under tmp_path; returns (run, data file) so a test can change the data."""
    from genforge.api import train

    data = write_npz(tmp_path / "d.npz", n)
    run = tmp_path / "r"
    overrides = [o for o in TINY if not o.startswith("data.")] + [f'data.name="{data}"']
    train(out=run, steps=10, overrides=overrides, log=lambda m: None, **train_kw)
    return run, data


def small_section(spec, name: str):
    """A family's own `model` section at a tiny width (each family names its width keys differently)."""
    fields = spec.config.model_fields
    widths = {k: 8 for k in ("g_channels", "d_channels", "width") if k in fields}
    if "timesteps" in fields:
        widths["timesteps"] = 50
    return spec.config(name=name, **widths)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets: a second intra-op thread buys nothing and, on a busy 2-core box, stalls for seconds. The
    process-wide count is restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

