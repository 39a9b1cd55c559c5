"""Wall time of `genforge eval` on the demo's model at 10,000 generated samples, and its parts."""
from __future__ import annotations

import time

import torch


def bench_eval(quick: bool = False) -> dict:
    from genforge.core.config import DataConfig
    from genforge.data.prepare import prepare
    from genforge.evaluation.evaluate import EvalSettings, evaluate
    from genforge.models.gan_blocks import Generator

    n = 2000 if quick else 10_000
    data = prepare(DataConfig(name="mnist"), warn=lambda m: None)
    torch.manual_seed(0)
    G = Generator(64, 1, 28, 32, 10, 32).eval()  # untrained weights: the cost does not depend on them

    def sample_fn(labels, count, seed):
        from genforge.core.registry import MODELS
        from genforge.data.transforms import to_uint8

        spec = MODELS.get("cgan")
        return to_uint8(spec.generate(G, spec.resolve(None, "cgan"), count, labels, seed))

    evaluate(sample_fn, data, True, EvalSettings(n=50, resamples=2, cas=False), log=lambda m: None)  # warm the judge cache
    t0 = time.perf_counter()
    evaluate(sample_fn, data, True, EvalSettings(n=n), log=lambda m: None)
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    evaluate(sample_fn, data, True, EvalSettings(n=n, cas=False), log=lambda m: None)
    no_cas = time.perf_counter() - t1
    table = ("| `genforge eval` part | seconds |\n|---|---|\n"
             f"| all metrics, {n:,} generated vs {len(data.test)} real test images, 50 bootstrap resamples | {total:.1f} |\n"
             f"| the same without CAS (`--no-cas`) | {no_cas:.1f} |\n"
             f"| CAS alone (two small classifiers, ~800 updates each) | {total - no_cas:.1f} |")
    return {"title": f"Evaluation wall time ({n:,} samples)", "seconds": total, "seconds_no_cas": no_cas, "table": table,
            "note": "The judge CNN was already cached (it trains once per dataset, ~40 s here)."}
