"""`genforge eval RUN --sampler-sweep` at its defaults: every sampler at 5, 10, 20 and 50 steps, 500 samples per
point, KID with a bootstrap CI. The target (issue 9): the default sweep finishes in ≤ 15 minutes on 2 cores.

The run is the families benchmark's diffusion seed 0 (5 minutes of training). Only the sweep is timed here
(`api_eval.run_sweep`, the code `genforge eval --sampler-sweep` calls after the other metrics).
"""
from __future__ import annotations

import torch

from measure import WORK, cached, mnist, timed

TARGET_S = 15 * 60


def _sweep() -> dict:
    import genforge
    from bench_families import run_dir
    from genforge.api_eval import run_sweep, sweep_points_for
    from genforge.evaluation.evaluate import EvalSettings

    gen = genforge.load(run_dir("diffusion", 0), "best", log=lambda *_: None)
    points = sweep_points_for(gen, ())  # the default step counts
    rows, seconds = timed(lambda: run_sweep(gen, mnist(), EvalSettings(), points, None, print))
    return {"rows": rows, "seconds": round(seconds, 1), "guidance": gen.request.guidance}


def bench_sweep(quick: bool = False) -> dict:
    torch.set_num_threads(2)
    r = cached(WORK / "sweep.json", _sweep)
    table = ["| sampler | steps | KID × 1000 (95 % CI) | img/s |", "|---|---|---|---|"]
    for row in r["rows"]:
        table.append(f"| {row['sampler']} | {row['sample_steps']} | {1000 * row['kid']:.2f} "
                     f"[{1000 * row['ci95'][0]:.2f}, {1000 * row['ci95'][1]:.2f}] | {row['img_per_s']:.1f} |")
    met = "met" if r["seconds"] <= TARGET_S else "not met"
    note = (f"The whole default sweep took {r['seconds']:.0f} s ({len(r['rows'])} points x {r['rows'][0]['n_generated']} "
            f"samples, guidance {r['guidance']}, KID against the {r['rows'][0]['n_real']} test images, domain features); "
            f"target ≤ {TARGET_S} s: {met}. The run: the families benchmark's diffusion seed 0. Reproduce with "
            "`genforge eval RUN --sampler-sweep` (which also computes the other metrics first).")
    return {"title": "Sampler sweep at its defaults (KID vs steps)", "result": r, "table": "\n".join(table), "note": note}
