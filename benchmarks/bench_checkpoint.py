"""Cost of a crash-safe checkpoint (manifest, fsync, one rename) vs bare safetensors writes of the same tensors."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file


def bench_checkpoint(quick: bool = False) -> dict:
    from genforge.core import checkpoint as ck
    from genforge.core.config import RunConfig
    from genforge.data.imageset import DataInfo
    from genforge.training.gan import GANTask

    info = DataInfo(1, 28, 10, tuple("0123456789"), (0.13,), (0.31,), "bench", "bench", 4000, 500, 500)
    task = GANTask(RunConfig(), info, torch.device("cpu"))
    x, y = torch.rand(16, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (16,))
    task.train_step({"x": x, "y": y}, 0)  # optimizer state exists
    reps = 5 if quick else 20
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        t0 = time.perf_counter()
        for i in range(reps):
            nets = {n: m.state_dict() for n, m in task.networks().items()}
            ck.save_checkpoint(root / "ck", i, nets, task.optimizers(), {"step": i})
        ours = (time.perf_counter() - t0) / reps
        # what the Trainer does after each save: verify every checkpoint (SHA-256 of each file), keep the
        # newest 2 + the best, delete the rest; with keep_last=2 each prune verifies 3 checkpoints
        t0 = time.perf_counter()
        for i in range(reps, 2 * reps):
            nets = {n: m.state_dict() for n, m in task.networks().items()}
            ck.save_checkpoint(root / "pr", i, nets, task.optimizers(), {"step": i})
            ck.prune(root / "pr", keep_last=2, warn=lambda m: None)
        pruned = (time.perf_counter() - t0) / reps
        t0 = time.perf_counter()
        for i in range(reps):
            for n, m in task.networks().items():
                save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(root / f"{n}-{i}.safetensors"))
            for n, o in task.optimizers().items():
                tensors, _ = ck.flatten_optimizer(o)
                save_file(tensors, str(root / f"optim-{n}-{i}.safetensors"))
        peer = (time.perf_counter() - t0) / reps
        size = sum(f.stat().st_size for f in (root / "ck" / "0").iterdir())
    table = ("| save of one checkpoint | ms |\n|---|---|\n"
             f"| genforge: manifest + fsync + rename ({size / 2**20:.1f} MiB) | {ours * 1000:.1f} |\n"
             f"| genforge, as the Trainer saves: the above + verified prune (3 checkpoints hashed) | {pruned * 1000:.1f} |\n"
             f"| peer: bare safetensors writes, no fsync | {peer * 1000:.1f} |\n"
             f"| **ratio** (crash-safe save / bare writes) | **{ours / peer:.2f}x** |\n"
             f"| **ratio** (save + verified prune / bare writes) | **{pruned / peer:.2f}x** |")
    return {"title": "Checkpoint save cost", "ours_s": ours, "pruned_s": pruned, "peer_s": peer, "ratio": ours / peer,
            "table": table,
            "note": "The difference is the price of never losing a checkpoint: fsync of each file and the directory, "
                    "and (since the hardening issue) verifying every checkpoint before pruning ranks or deletes any."}
