"""Synthetic data that helps? `genforge augment --seeds 5` on a diffusion model trained on 5 % of MNIST only.

    genforge train --data mnist --model diffusion --time-budget 5m \
        --set data.train_fraction=0.05 --set data.stratify=true --out W/d5
    genforge augment W/d5 --seeds 5

The targets (issue 10): `chosen.lift_vs_none` with a 95 % CI above 0; the frontier, `chosen.lift_vs_classic`
above 0. One generator: the intervals hold classifier seed x test item, not the generator's variance.
"""
from __future__ import annotations

from measure import WORK, cached

FRACTION = 0.05
BUDGET = "5m"
SEEDS = 5


def _cell() -> dict:
    import genforge
    from genforge.api import augment_run

    run = WORK / "augment" / "d5"
    if not (run / "config.json").exists():
        genforge.train(data="mnist", model="diffusion", out=run, time_budget=BUDGET, log=lambda *_: None,
                       overrides=[f"data.train_fraction={FRACTION}", "data.stratify=true"])
    r = augment_run(run, seeds=SEEDS, log=print)
    return {k: v for k, v in r.items() if k not in ("search",)} | {"search_rows": r["search"]["rows"]}


def _ci(x: dict) -> str:
    return f"{x['value']:+.1%} [{x['ci95'][0]:+.1%}, {x['ci95'][1]:+.1%}]"


def bench_augment(quick: bool = False) -> dict:
    r = cached(WORK / "augment" / "d5.json", _cell)
    rows = ["| arm | recipe (chosen on val) | test accuracy, 95 % CI |", "|---|---|---|"]
    for arm, m in r["arms"].items():
        recipe = ", ".join(f"{k} {v}" for k, v in m["recipe"].items() if k != "arm" and v not in (0.0, None)) or "-"
        rows.append(f"| {arm} | {recipe} | {m['accuracy']:.1%} [{m['ci95'][0]:.1%}, {m['ci95'][1]:.1%}] |")
    c = r["chosen"]
    rows.append(f"| **lift_vs_none** ({c['arm']} − none) | | **{_ci(c['lift_vs_none'])}** {c['lift_vs_none']['verdict']} |")
    rows.append(f"| **lift_vs_classic** ({c['arm']} − {c['lift_vs_classic']['against']}) | | "
                f"**{_ci(c['lift_vs_classic'])}** {c['lift_vs_classic']['verdict']} |")
    copy = r["synthetic"]["copy_check"]
    note = (f"A diffusion model trained {BUDGET} on {r['n_real']} real images ({FRACTION:.0%} of the train split, stratified), "
            f"{SEEDS} classifier seeds per arm, {r['n_test']} test images, downstream {r['downstream']['model']} "
            f"({r['downstream']['classifier_steps']} updates for the real-only arm). Synthetic pools: "
            + ", ".join(f"{k} ({v['n']})" for k, v in r["synthetic"]["pools"].items())
            + f"; chosen {r['synthetic']['chosen_pool']}. Near-copy check: synthetic images lie "
            f"{copy['nn_distance_ratio']:.2f}x as far from the real subset as test images (median nearest-neighbour "
            f"pixel distance). {r['intervals']}. Candidates tried on val: {len(r['search_rows'])}.")
    return {"title": "Synthetic data vs classic augmentation (diffusion, 5 % of MNIST)", "result": r,
            "table": "\n".join(rows), "note": note}
