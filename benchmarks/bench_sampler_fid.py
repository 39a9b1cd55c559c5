"""DPM-Solver++(2M), ODE and SDE forms, at 10 and 20 steps against the 250-step ancestral DDPM reference, by domain FID.

Each of the families benchmark's three diffusion runs (training seeds 0-2: 5 minutes of training with the
family defaults and the guidance chosen on validation) draws the same N = 2,000 class-balanced samples with each sampler:
the same labels and the same per-sample starting noise (sample i of seed S has its own generator), so
the samplers are compared on paired draws. FID is against the whole real train split (judge features).

The target is the upper end of the 95 % paired-bootstrap CI of FID(sampler) / FID(DDPM-250) ≤ 1.05:
each resample draws one set of real indices and one set of sample indices and applies both to every
sampler, so the ratio's spread is that of the pairing, not of two independent draws. The target is met
only if it holds for every training seed. The DDPM-250 samples (500 U-Net passes per image with guidance)
cost about 13 minutes per run on 2 cores; they are cached chunk by chunk in benchmarks/work/sampler_fid/.

A second interval holds the real reference fixed and resamples the generated rows only: that part of the
spread shrinks as 1/sqrt(N), the reference's part (3,967 bundled real images) does not. From it the JSON
records the N at which that upper end would reach 1.05 if the point ratio stayed where it is.
"""
from __future__ import annotations

import numpy as np
import torch

from measure import WORK, balanced_labels, cached, domain_features, mnist, timed

N = 2000
MODEL_SEEDS = (0, 1, 2)
CHUNK = 250
SEED = 2
POINTS = (("ddpm", 250), ("dpmpp-2m", 10), ("dpmpp-2m", 20), ("dpmpp-2m-sde", 10), ("dpmpp-2m-sde", 20),
          ("ddim", 20))  # the first is the reference
TARGET = 1.05


def features(gen, data, sampler: str, steps: int, guidance: float, n: int, folder) -> tuple[np.ndarray, float]:
    """Domain features of the n samples of one sampler (cached per chunk) and the seconds they took."""
    from genforge.sampling.request import SampleRequest

    request = SampleRequest(sampler=sampler, sample_steps=steps, guidance=guidance)
    labels = balanced_labels(data.info.num_classes, n // data.info.num_classes)
    parts, seconds = [], 0.0
    for a in range(0, n, CHUNK):
        path = folder / f"{sampler}-{steps}-g{guidance}-{a}.npy"
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
    """Per sampler: FID ratio to the reference with paired percentile-bootstrap 95 % CIs (reference resampled
    and held fixed), and the N at which the fixed-reference upper end would reach TARGET at the same ratio."""
    from genforge.evaluation.frechet import paired_frechet_draws

    point, draws = paired_frechet_draws(real, fakes, resamples, seed)
    _, fixed = paired_frechet_draws(real, fakes, resamples, seed, resample_real=False)
    n = len(next(iter(fakes.values())))
    out = {}
    for k in fakes:
        ratios = np.array([d[k] / d[reference] for d in draws])
        fixed_ratios = np.array([d[k] / d[reference] for d in fixed])
        fids = np.array([d[k] for d in draws])
        ratio = point[k] / point[reference]
        upper = float(np.quantile(fixed_ratios, 0.975))
        # the upper end's distance from the point shrinks as 1/sqrt(N): N·((upper - ratio)/(TARGET - ratio))²
        n_needed = n * ((upper - ratio) / (TARGET - ratio)) ** 2 if ratio < TARGET and k != reference else None
        out[k] = {"fid": point[k], "fid_ci95": np.quantile(fids, [0.025, 0.975]).tolist(), "ratio": ratio,
                  "ratio_ci95": np.quantile(ratios, [0.025, 0.975]).tolist(),
                  "ratio_ci95_fixed_reference": np.quantile(fixed_ratios, [0.025, 0.975]).tolist(),
                  "n_needed_fixed_reference": n_needed}
    return out


def bench_sampler_fid(quick: bool = False) -> dict:
    import genforge
    from bench_families import cell, run_dir

    torch.set_num_threads(2)
    data = mnist()
    real = domain_features(data, data.train.x)
    reference = "-".join(map(str, POINTS[0]))
    n = 500 if quick else N
    per_seed, seconds, guidance = {}, {}, {}
    for m in MODEL_SEEDS:
        family_cell = cached(WORK / "families" / f"diffusion-s{m}.json", lambda: cell("diffusion", m, data))
        gen = genforge.load(run_dir("diffusion", m), "best", log=lambda *_: None)
        guidance[m] = family_cell["request"]["guidance"]
        fakes, seconds[m] = {}, {}
        for sampler, steps in POINTS:
            key = f"{sampler}-{steps}"
            fakes[key], seconds[m][key] = features(gen, data, sampler, steps, guidance[m], n,
                                                   WORK / "sampler_fid" / f"s{m}")
        per_seed[m] = paired_ratio_ci(real, fakes, reference, resamples=200)
    met = [k for k in per_seed[MODEL_SEEDS[0]]
           if k.startswith("dpmpp") and all(per_seed[m][k]["ratio_ci95"][1] <= TARGET for m in MODEL_SEEDS)]
    rows = [f"| sampler | U-Net passes per image | domain FID, seeds {', '.join(map(str, MODEL_SEEDS))} "
            f"| FID / {reference}, paired 95 % CI, per seed | worst upper end, reference held fixed | img/s |",
            "|---|---|---|---|---|---|"]
    for key in per_seed[MODEL_SEEDS[0]]:
        stats = [per_seed[m][key] for m in MODEL_SEEDS]
        passes = int(key.rsplit("-", 1)[1]) * (2 if guidance[MODEL_SEEDS[0]] not in (None, 1.0) else 1)
        ratios = "; ".join(f"{s['ratio']:.3f} [{s['ratio_ci95'][0]:.3f}, {s['ratio_ci95'][1]:.3f}]" for s in stats)
        worst_fixed = max(s["ratio_ci95_fixed_reference"][1] for s in stats)
        speed = np.mean([n / seconds[m][key] for m in MODEL_SEEDS])
        fids = ", ".join(f"{s['fid']:.2f}" for s in stats)
        rows.append(f"| {key}{' **≤ 1.05 on every seed**' if key in met else ''} | {passes} "
                    f"| {fids} | {ratios} "
                    f"| {worst_fixed:.3f} | {speed:.1f} |")
    note = (f"N = {n} samples per sampler and run (class-balanced, sample seed {SEED}, the same per-sample noise for "
            f"every sampler), guidance {', '.join(str(guidance[m]) for m in MODEL_SEEDS)} (chosen on validation per "
            f"run); reference: the {len(real)} real train images; 200 paired bootstrap resamples of both the real "
            f"and the generated rows. 'Reference held fixed' resamples the generated rows only: the part of the "
            f"spread that more samples shrink. Target (upper CI end of the ratio ≤ {TARGET} for every training seed): "
            f"{'met by ' + ', '.join(met) if met else 'not met'}. The runs: the families benchmark's diffusion "
            f"seeds (5 minutes of training each).")
    return {"title": "DPM-Solver++ vs 250-step DDPM (domain FID, paired)", "guidance": guidance, "n": n,
            "stats": per_seed, "seconds": seconds, "met": met, "table": "\n".join(rows), "note": note}
