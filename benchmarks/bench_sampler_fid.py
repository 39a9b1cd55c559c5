"""DPM-Solver++(2M) at 10 and 20 steps against the 250-step ancestral DDPM reference, by domain FID.

One diffusion run (the families benchmark's seed 0: 5 minutes of training with the family defaults and
the guidance chosen on validation) draws the same N = 2,000 class-balanced samples with each sampler:
the same labels and the same per-sample starting noise (sample i of seed S has its own generator), so
the samplers are compared on paired draws. FID is against the whole real train split (judge features).

The target is the upper end of the 95 % paired-bootstrap CI of FID(sampler) / FID(DDPM-250) ≤ 1.05:
each resample draws one set of real indices and one set of sample indices and applies both to every
sampler, so the ratio's spread is that of the pairing, not of two independent draws. The DDPM-250
samples (500 U-Net passes per image with guidance) cost tens of minutes on 2 cores; they are cached
chunk by chunk in benchmarks/work/.
"""
from __future__ import annotations

import numpy as np
import torch

from measure import WORK, balanced_labels, cached, domain_features, mnist, timed

N = 2000
CHUNK = 250
SEED = 2
POINTS = (("ddpm", 250), ("dpmpp-2m", 10), ("dpmpp-2m", 20), ("ddim", 20))  # the first is the reference
TARGET = 1.05


def features(gen, data, sampler: str, steps: int, guidance: float, n: int) -> tuple[np.ndarray, float]:
    """Domain features of the n samples of one sampler (cached per chunk) and the seconds they took."""
    from genforge.sampling.request import SampleRequest

    request = SampleRequest(sampler=sampler, sample_steps=steps, guidance=guidance)
    labels = balanced_labels(data.info.num_classes, n // data.info.num_classes)
    parts, seconds = [], 0.0
    for a in range(0, n, CHUNK):
        path = WORK / "sampler_fid" / f"{sampler}-{steps}-g{guidance}-{a}.npy"
        if not path.is_file():
            idx = list(range(a, min(a + CHUNK, n)))
            images, s = timed(lambda: gen.sample(len(idx), labels[idx].tolist(), seed=SEED, request=request, indices=idx))
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, domain_features(data, images), allow_pickle=False)
            np.save(path.with_suffix(".seconds.npy"), np.array([s]), allow_pickle=False)
            print(f"  {sampler}-{steps}: samples {a}..{a + len(idx)} in {s:.0f}s", flush=True)
        parts.append(np.load(path, allow_pickle=False))
        seconds += float(np.load(path.with_suffix(".seconds.npy"), allow_pickle=False)[0])
    return np.concatenate(parts), seconds


def paired_ratio_ci(real: np.ndarray, fakes: dict, reference: str, resamples: int, seed: int = 0) -> dict:
    """Per sampler: FID ratio to the reference with a paired percentile-bootstrap 95 % CI."""
    from genforge.evaluation.frechet import paired_frechet_draws

    point, draws = paired_frechet_draws(real, fakes, resamples, seed)
    out = {}
    for k in fakes:
        ratios = np.array([d[k] / d[reference] for d in draws])
        fids = np.array([d[k] for d in draws])
        out[k] = {"fid": point[k], "fid_ci95": np.quantile(fids, [0.025, 0.975]).tolist(),
                  "ratio": point[k] / point[reference], "ratio_ci95": np.quantile(ratios, [0.025, 0.975]).tolist()}
    return out


def bench_sampler_fid(quick: bool = False) -> dict:
    import genforge
    from bench_families import cell, run_dir

    torch.set_num_threads(2)
    data = mnist()
    family_cell = cached(WORK / "families" / "diffusion-s0.json", lambda: cell("diffusion", 0, data))
    gen = genforge.load(run_dir("diffusion", 0), "best", log=lambda *_: None)
    guidance = family_cell["request"]["guidance"]
    n = 500 if quick else N
    fakes, seconds = {}, {}
    for sampler, steps in POINTS:
        key = f"{sampler}-{steps}"
        fakes[key], seconds[key] = features(gen, data, sampler, steps, guidance, n)
    real = domain_features(data, data.train.x)
    reference = "-".join(map(str, POINTS[0]))
    stats = paired_ratio_ci(real, fakes, reference, resamples=200)
    rows = [f"| sampler | U-Net passes per image | domain FID (95 % CI) | FID / {reference} (paired 95 % CI) | img/s |",
            "|---|---|---|---|---|"]
    for key, s in stats.items():
        steps = int(key.rsplit("-", 1)[1])
        passes = steps * (2 if guidance not in (None, 1.0) else 1)
        mark = " **≤ 1.05**" if key.startswith("dpmpp") and s["ratio_ci95"][1] <= TARGET else ""
        rows.append(f"| {key} | {passes} | {s['fid']:.2f} [{s['fid_ci95'][0]:.2f}, {s['fid_ci95'][1]:.2f}] "
                    f"| {s['ratio']:.3f} [{s['ratio_ci95'][0]:.3f}, {s['ratio_ci95'][1]:.3f}]{mark} "
                    f"| {n / seconds[key]:.1f} |")
    met = [k for k, s in stats.items() if k.startswith("dpmpp") and s["ratio_ci95"][1] <= TARGET]
    note = (f"N = {n} samples per sampler (class-balanced, seed {SEED}, the same per-sample noise for every sampler), "
            f"guidance {guidance} (chosen on validation for this run); reference: the {len(real)} real train images; "
            f"200 paired bootstrap resamples. Target (upper CI end of the ratio ≤ {TARGET}): "
            f"{'met by ' + ', '.join(met) if met else 'not met'}. The run: the families benchmark's diffusion seed 0 "
            f"({family_cell['steps']} steps).")
    return {"title": "DPM-Solver++ vs 250-step DDPM (domain FID, paired)", "guidance": guidance, "n": n,
            "stats": stats, "seconds": seconds, "table": "\n".join(rows), "note": note}
