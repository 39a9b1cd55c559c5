"""Augmentation lift on bundled MNIST: a cgan trained on 10 % of train, `genforge augment` at two N.

The peer is the real-only arm of the same run: the lift is the difference between the two.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

FRACTION = 0.1
STEPS = 2400  # the demo's step count


def bench_augment(quick: bool = False) -> dict:
    from genforge.api import augment_run, train

    quiet = lambda m: None  # noqa: E731
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as d:
        run = Path(d) / "mnist-10pct"
        train(data="mnist", steps=STEPS, out=run, overrides=[f"data.train_fraction={FRACTION}"], log=quiet)
        for label, times in (("1x", 1), ("5x", 5)):
            if quick and times > 1:
                continue
            n = None if times == 1 else times * results["1x"]["arms"]["real"]["n_train"]  # None: as many as the real subset
            r = augment_run(run, n=n, log=quiet)
            results[label] = r
            a, lift = r["arms"], r["lift"]
            rows.append(f"| {a['synthetic']['n_train']} ({label} real) | {a['real']['accuracy']:.1%} | "
                        f"{a['real+synthetic']['accuracy']:.1%} | {a['synthetic']['accuracy']:.1%} | "
                        f"{lift['value']:+.1%} [{lift['ci95'][0]:+.1%}, {lift['ci95'][1]:+.1%}] | {lift['verdict']} |")
    first = results["1x"]
    table = ("| synthetic images | real only | real + synthetic | synthetic only | lift, 95 % CI | verdict |\n"
             "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    note = (f"cgan (demo recipe, {STEPS} steps) trained on {first['arms']['real']['n_train']} real train images "
            f"({FRACTION:.0%} of bundled MNIST's train split); downstream CNN with {first['classifier']['steps']} updates, "
            f"{first['seeds']} seeds per arm, tested on {first['n_test']} real test images. Reproduce with "
            f"`genforge train --data mnist --steps {STEPS} --set data.train_fraction={FRACTION} --out runs/m10` then "
            "`genforge augment runs/m10` (and `--n` five times the real subset).")
    return {"title": "Augmentation lift (10 % of MNIST)", "results": results, "table": table, "note": note}
