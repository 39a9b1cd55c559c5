"""Training throughput of genforge's default U-Net vs diffusers' UNet2DModel at a similar size.

    .venv/bin/python benchmarks/unet_throughput.py [--quick]

One forward + backward of an ε-prediction MSE at batch 64, 28x28 grayscale, 10 classes, one thread
(the figure is per core; the 2-core product target roughly doubles it). Prints a small JSON.
The peer is configured like ours: channels (32, 64, 64), one res block per level, attention at 7x7
and in the middle block, AdaGN ("scale_shift"), GroupNorm(8), class embedding with K + 1 rows.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F


def _rates(steps: list, batch: int, n: int) -> list[float]:
    """img/s of each step, timed in alternation so that load from other processes hits all alike."""
    for step in steps * 2:  # warm-up: allocator, oneDNN primitive caches
        step()
    spent = [0.0] * len(steps)
    for _ in range(n):
        for i, step in enumerate(steps):
            t0 = time.perf_counter()
            step()
            spent[i] += time.perf_counter() - t0
    return [n * batch / s for s in spent]


def _train_step(net, call, x, t, y):
    def step() -> None:
        net.zero_grad(set_to_none=True)
        F.mse_loss(call(net, x, t, y), x).backward()
    return step


def _peer(num_classes: int):
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
                       layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8,
                       attention_head_dim=64, resnet_time_scale_shift="scale_shift",
                       num_class_embeds=num_classes + 1)


def _gflop_per_image(net, call, x, t, y) -> float:
    """fwd+bwd FLOPs per image, counted by torch (load-independent, unlike img/s)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        _train_step(net, call, x[:2], t[:2], y[:2])()
    return counter.get_total_flops() / 2 / 1e9


def bench_unet(quick: bool = False) -> dict:
    from genforge.models.unet import UNet

    torch.set_num_threads(1)
    n, batch, k = (3, 64, 10) if quick else (8, 64, 10)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, 28, 28, generator=g)
    t = torch.randint(0, 1000, (batch,), generator=g)
    y = torch.randint(0, k + 1, (batch,), generator=g)
    torch.manual_seed(0)
    ours, peer = UNet(1, 28, num_classes=k), _peer(k)
    call_ours, call_peer = (lambda m, x, t, y: m(x, t, y)), (lambda m, x, t, y: m(x, t, class_labels=y).sample)
    ours_rate, peer_rate = _rates([_train_step(ours, call_ours, x, t, y), _train_step(peer, call_peer, x, t, y)],
                                  batch, n)
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"title": "U-Net forward+backward throughput (CPU, 1 thread, batch 64, 28x28x1, K=10)",
            "threads": torch.get_num_threads(), "steps": n,
            "genforge_unet": {"params": params(ours), "img_per_s": round(ours_rate, 1),
                              "gflop_per_img": round(_gflop_per_image(ours, call_ours, x, t, y), 3)},
            "diffusers_unet2d": {"params": params(peer), "img_per_s": round(peer_rate, 1),
                                 "gflop_per_img": round(_gflop_per_image(peer, call_peer, x, t, y), 3)},
            "ratio_genforge_over_diffusers": round(ours_rate / peer_rate, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timed steps instead of 8")
    print(json.dumps(bench_unet(parser.parse_args().quick), indent=2))


if __name__ == "__main__":
    main()
