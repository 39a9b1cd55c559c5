"""cGAN vs CVAE vs diffusion on bundled MNIST at the same wall-clock budget, over training seeds.

Each (family, seed) trains with `genforge train --data mnist --model M --time-budget 5m --set train.seed=S`
(the family's defaults; checkpoint selection counts inside the budget), then its best checkpoint draws
1,000 class-balanced samples (100 per class, seed 1) that are judged, FID'd against the test split and
timed. Diffusion's guidance is chosen per run on the validation split by the selector, never by the judge,
then judged once: val_fjd at guidance 1.5 (the family default), 1 and 2, and the default stays unless
another scale is better with evidence (`evaluation/sampler_choice.py`).
"""
from __future__ import annotations

import json

import torch

from measure import WORK, balanced_labels, cached, judge_and_fid, mean_sd, mnist, real_floor, timed

FAMILIES = ("cgan", "cvae", "diffusion")
BUDGET = "5m"
GUIDANCES = (1.5, 1.0, 2.0)  # the family default first


def run_dir(family: str, seed: int):
    return WORK / "families" / f"{family}-s{seed}"


def choose_guidance(gen, data, seed: int) -> dict:
    """The guidance chosen on the validation split by the selector (same noise for each scale)."""
    from genforge.evaluation.sampler_choice import choose_request, compare_requests
    from genforge.sampling.request import SampleRequest

    def sample(req, n, labels, s):
        return gen.spec.generate(gen.net, gen.resolve(req), n, labels, s)

    scored = compare_requests(sample, data, [SampleRequest(guidance=g) for g in GUIDANCES], n_samples=500, seed=seed,
                              log=lambda *_: None)
    return {"rows": scored["rows"], **choose_request(scored, default=0)}


def trained(family: str, seed: int) -> dict:
    """Train the cell's run once (finishing an interrupted one); its steps and seconds are kept beside it."""
    import genforge

    out = run_dir(family, seed)
    marker = out / "bench-trained.json"
    if not marker.is_file():
        if not (out / "config.json").exists():
            result, seconds = timed(lambda: genforge.train(data="mnist", model=family, out=out, time_budget=BUDGET,
                                                           overrides=[f"train.seed={seed}"], log=lambda *_: None))
        else:  # a half-finished cell of an interrupted benchmark: finish the same run
            result, seconds = timed(lambda: genforge.train(resume=out, log=lambda *_: None))
        marker.write_text(json.dumps({"steps": result.step, "train_seconds": round(seconds, 1)}) + "\n")
    return json.loads(marker.read_text())


def cell(family: str, seed: int, data) -> dict:
    import genforge
    from genforge.sampling.request import SampleRequest

    training = trained(family, seed)
    gen = genforge.load(run_dir(family, seed), "best", log=lambda *_: None)
    choice = choose_guidance(gen, data, seed) if family == "diffusion" else None
    request = SampleRequest(guidance=choice["chosen"]["guidance"]) if choice else None
    labels = balanced_labels(data.info.num_classes, 100)
    images, sample_s = timed(lambda: gen.sample(len(labels), labels.tolist(), seed=1, request=request))
    return {"family": family, "seed": seed, **training,
            "checkpoint": gen.checkpoint.step, "params": sum(p.numel() for p in gen.net.parameters()),
            "request": gen.resolve(request).to_json(), "guidance_choice": choice,
            "sample_img_per_s": round(len(labels) / sample_s, 1), **judge_and_fid(images, labels, data)}


def _fmt(values, pct=False, digits=2):
    m, sd = mean_sd(values)
    return f"{m:.1%} ± {sd:.1%}" if pct else f"{m:.{digits}f} ± {sd:.{digits}f}"


def bench_families(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    seeds = (0,) if quick else (0, 1, 2)
    data = mnist()
    order = sorted(FAMILIES, key=lambda f: f != "diffusion")  # diffusion first: the sampler and peer benchmarks reuse it
    cells = [cached(WORK / "families" / f"{f}-s{s}.json", lambda f=f, s=s: cell(f, s, data)) for f in order for s in seeds]
    floor = cached(WORK / "families" / "floor.json", lambda: real_floor(data, 1000))
    rows = [f"| family | steps in {BUDGET} | conditional accuracy | worst-class diversity | domain FID (per-seed 95 % CI) "
            "| sampling img/s |", "|---|---|---|---|---|---|"]
    for f in FAMILIES:
        mine = [c for c in cells if c["family"] == f]
        cis = ", ".join(f"{c['fid']['value']:.1f} [{c['fid']['ci95'][0]:.1f}, {c['fid']['ci95'][1]:.1f}]" for c in mine)
        rows.append(f"| {f} ({mine[0]['params']:,} params) | {_fmt([c['steps'] for c in mine], digits=0)} "
                    f"| {_fmt([c['conditional_accuracy'] for c in mine], pct=True)} "
                    f"| {_fmt([c['min_diversity_ratio'] for c in mine])} | {cis} "
                    f"| {_fmt([c['sample_img_per_s'] for c in mine], digits=0)} |")
    rows.append(f"| real train images (the floor) | | | | {floor['value']:.1f} [{floor['ci95'][0]:.1f}, {floor['ci95'][1]:.1f}] | |")
    chosen = [c["request"].get("guidance") for c in cells if c["family"] == "diffusion"]
    note = (f"Mean ± SD over training seeds {', '.join(map(str, seeds))}; FID per seed with its bootstrap CI "
            f"(1,000 samples vs the {cells[0]['fid']['n_real']} test images, judge features; the floor is 1,000 real "
            f"train images). Diffusion's guidance was chosen per run on the validation split by val_fjd (the default "
            f"1.5 unless another scale is better at 95 % for both alternatives together, basic paired bootstrap): "
            f"{chosen}. "
            "Samples: 100 per class, seed 1, from each run's best checkpoint with the family's default sampler "
            "(cgan/cvae: one pass; diffusion: DPM-Solver++(2M), 10 steps, two U-Net passes per step with guidance). "
            f"Reproduce one cell with `genforge train --data mnist --model M --time-budget {BUDGET} --set train.seed=S`.")
    return {"title": "Model families at the same budget (5 minutes of training on bundled MNIST)",
            "cells": cells, "floor": floor, "table": "\n".join(rows), "note": note}
