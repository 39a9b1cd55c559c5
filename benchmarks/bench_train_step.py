"""Training throughput of the demo's conditional GAN step vs a classic 1M-parameter DCGAN step."""
from __future__ import annotations

import time

import torch

from peers import classic_dcgan, classic_step


def _rate(step, batch: int, n: int) -> float:
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return n * batch / (time.perf_counter() - t0)


def bench_train_step(quick: bool = False) -> dict:
    from genforge.core.config import RunConfig
    from genforge.data.imageset import DataInfo
    from genforge.training.gan import GANTask

    n, batch = (10, 64) if quick else (40, 64)
    info = DataInfo(1, 28, 10, tuple("0123456789"), (0.13,), (0.31,), "bench", "bench", 4000, 500, 500)
    torch.manual_seed(0)
    task = GANTask(RunConfig(), info, torch.device("cpu"))
    x = torch.rand(batch, 1, 28, 28) * 2 - 1
    y = torch.randint(0, 10, (batch,))
    ours = _rate(lambda: task.train_step({"x": x, "y": y}, 0), batch, n)
    G, D = classic_dcgan()
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    peer = _rate(lambda: classic_step(G, D, og, od, x), batch, n)
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    table = ("| step (batch 64, 28x28) | parameters G / D | img/s |\n|---|---|---|\n"
             f"| genforge cgan (SN, projection, hinge, EMA) | {params(task.G):,} / {params(task.D):,} | {ours:.0f} |\n"
             f"| peer: classic DCGAN (BCE) | {params(G):,} / {params(D):,} | {peer:.0f} |\n"
             f"| **ratio genforge / peer** | | **{ours / peer:.2f}x** |")
    return {"title": "Training step throughput (CPU)", "ours_img_per_s": ours, "peer_img_per_s": peer,
            "ratio": ours / peer, "table": table}
