"""Choosing each arm's recipe on the validation split, with the same search budget for every arm that has knobs.

Knobs: the synthetic share of each batch, the synthetic pool (generator request, e.g. guidance, and
whether a classifier trained on the real subset only filtered the samples), and the classic
augmentation (strength, and affine alone or affine + elastic). The synthetic arms try every (share, pool)
pair: K candidates. The classic arm tries K (strength, elastic) pairs, affine alone and affine + elastic
at ⌈K/2⌉ strengths evenly spaced in (0, 1], so it gets the same budget; classic+synthetic keeps the
classic arm's augmentation and tries the same K (share, pool) pairs. "none" has no knob. Synthetic-only
(TSTR) uses the synthetic arm's pool.

Within an arm, successive halving (Jamieson & Talwalkar 2016) with classifier seeds as the resource:
every candidate is scored by its mean validation accuracy over ``search_seeds`` seeds; the better half
(ties: the earlier candidate) is scored again on twice as many seeds, and so on until one is left. So
the candidates that matter are compared on more seeds (less noise) for about twice the cost of one pass,
and every arm with knobs runs the same schedule. "none" is scored on as many seeds as the classic winner. Search seeds are 1000+, apart from the final seeds 0..S−1.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from genforge.augment.downstream import ARMS, BASELINE_ARMS, SYNTHETIC_ARMS, Recipe, TrainAndScore

SEARCH_SEED = 1000
DEFAULT_SHARES = (0.25, 0.5)


def strengths_for(k: int) -> list[float]:
    """k classic strengths evenly spaced in (0, 1]."""
    return [round((i + 1) / k, 3) for i in range(k)]


def classic_candidates(k: int, strengths: Sequence[float] | None = None) -> list[tuple[float, bool]]:
    """The classic arm's share of an equal search budget: k (strength, elastic) pairs, affine alone first. Below
    k = 4 there is no room for both a strength grid and the elastic switch: k affine strengths (a coarser grid
    would weaken the baseline the lift is measured against). With ``strengths`` given (a fixed --strength),
    each of them with and without the elastic part."""
    if strengths is not None:
        return [(s, e) for e in (False, True) for s in strengths]
    if k < 4:
        return [(s, False) for s in strengths_for(k)]
    return [(s, e) for e in (False, True) for s in strengths_for(math.ceil(k / 2))][:k]


def halving(value, k: int, first_seeds: int = 1, log=lambda i, accs: None) -> tuple[int, dict[int, list[float]]]:
    """Successive halving over k candidates: ``value(i, seed)`` scores candidate i on one classifier seed.
    Returns the winner's index and every candidate's values (a candidate keeps the seeds it was scored on)."""
    values: dict[int, list[float]] = {i: [] for i in range(k)}
    alive, seeds = list(range(k)), first_seeds
    while True:
        for i in alive:
            while len(values[i]) < seeds:
                values[i].append(value(i, SEARCH_SEED + len(values[i])))
            log(i, values[i])
        if len(alive) > 1:
            alive = sorted(alive, key=lambda i: (-float(np.mean(values[i])), i))[: math.ceil(len(alive) / 2)]
        if len(alive) == 1:
            return alive[0], values
        seeds *= 2


def describe(r: Recipe) -> str:
    return (f"{r.arm:18} strength {r.strength:<5}{' elastic' if r.elastic else '        '} share {r.share:<4} "
            f"pool {r.pool or '-':24}")


def search(score: TrainAndScore, pools: Sequence[str], shares: Sequence[float] = DEFAULT_SHARES,
           strengths: Sequence[float] | None = None, search_seeds: int = 1, log=print) -> tuple[dict[str, Recipe], list[dict]]:
    """Each arm's val-chosen recipe, and one row per candidate tried (arm, recipe, val accuracy)."""
    grid = [(s, p) for p in pools for s in shares]
    classic = classic_candidates(len(grid), strengths)
    rows: list[dict] = []

    def best(candidates: list[Recipe], first_seeds: int = search_seeds) -> Recipe:
        def say(i: int, accs: list[float]) -> None:
            log(f"  val {describe(candidates[i])} accuracy {np.mean(accs):.4f} ({len(accs)} seeds)")

        winner, values = halving(lambda i, seed: float(score(candidates[i], seed, "val").mean()), len(candidates),
                                 first_seeds, say)
        for i, r in enumerate(candidates):
            rows.append({"arm": r.arm, "recipe": r.to_json(), "val_accuracy": float(np.mean(values[i])),
                         "val_seeds": len(values[i]), "chosen": i == winner})
        return candidates[winner]

    chosen = {"classic": best([Recipe("classic", strength=s, elastic=e) for s, e in classic])}
    # "none" has no knob: it is scored on as many seeds as the classic winner, so that `leaders` compares
    # the two baselines on equal evidence
    chosen["none"] = best([Recipe("none")], max(r["val_seeds"] for r in rows if r["chosen"]))
    chosen["synthetic"] = best([Recipe("synthetic", share=s, pool=p) for s, p in grid])
    c = chosen["classic"]
    chosen["classic+synthetic"] = best([Recipe("classic+synthetic", c.strength, s, p, c.elastic) for s, p in grid])
    chosen["synthetic-only"] = Recipe("synthetic-only", share=1.0, pool=chosen["synthetic"].pool)
    return {arm: chosen[arm] for arm in ARMS}, rows


def val_of(rows: list[dict], recipe: Recipe) -> float:
    return max(r["val_accuracy"] for r in rows if r["recipe"] == recipe.to_json())


def leaders(chosen: dict[str, Recipe], rows: list[dict]) -> tuple[str, str]:
    """(the best synthetic arm, the strongest arm without synthetic data), both by validation accuracy."""
    pick = lambda arms: max(arms, key=lambda a: val_of(rows, chosen[a]))  # noqa: E731
    return pick(SYNTHETIC_ARMS), pick(BASELINE_ARMS)
