"""Choosing each arm's recipe on the validation split, with the same search budget for every arm that has knobs.

Knobs: the synthetic share of each batch, the synthetic pool (generator request, e.g. guidance, and
whether a classifier trained on the real subset only filtered the samples), and the classic
augmentation strength. The synthetic arms try every (share, pool) pair: K candidates. The classic arm
tries K strengths evenly spaced in (0, 1], so it gets the same budget; classic+synthetic keeps the
classic arm's strength and tries the same K (share, pool) pairs. "none" has no knob. Synthetic-only
(TSTR) uses the synthetic arm's pool. Every candidate is scored by the mean validation accuracy over
``search_seeds`` classifier seeds (seeds 1000+, apart from the final seeds 0..S−1).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genforge.augment.downstream import BASELINE_ARMS, SYNTHETIC_ARMS, Recipe, TrainAndScore

SEARCH_SEED = 1000
DEFAULT_SHARES = (0.25, 0.5)


def strengths_for(k: int) -> list[float]:
    """k classic strengths evenly spaced in (0, 1]: the classic arm's share of an equal search budget."""
    return [round((i + 1) / k, 3) for i in range(k)]


def search(score: TrainAndScore, pools: Sequence[str], shares: Sequence[float] = DEFAULT_SHARES,
           strengths: Sequence[float] | None = None, search_seeds: int = 1, log=print) -> tuple[dict[str, Recipe], list[dict]]:
    """Each arm's val-chosen recipe, and one row per candidate tried (arm, recipe, val accuracy)."""
    grid = [(s, p) for p in pools for s in shares]
    strengths = list(strengths) if strengths is not None else strengths_for(len(grid))
    rows: list[dict] = []

    def best(candidates: list[Recipe]) -> Recipe:
        values = []
        for r in candidates:
            acc = float(np.mean([score(r, SEARCH_SEED + i, "val").mean() for i in range(search_seeds)]))
            rows.append({"arm": r.arm, "recipe": r.to_json(), "val_accuracy": acc})
            values.append(acc)
            log(f"  val {r.arm:18} strength {r.strength:<5} share {r.share:<4} pool {r.pool or '-':24} accuracy {acc:.4f}")
        return candidates[int(np.argmax(values))]  # the first of equals: the cheaper, earlier candidate

    chosen = {"none": best([Recipe("none")])}
    chosen["classic"] = best([Recipe("classic", strength=s) for s in strengths])
    chosen["synthetic"] = best([Recipe("synthetic", share=s, pool=p) for s, p in grid])
    chosen["classic+synthetic"] = best([Recipe("classic+synthetic", chosen["classic"].strength, s, p) for s, p in grid])
    chosen["synthetic-only"] = Recipe("synthetic-only", share=1.0, pool=chosen["synthetic"].pool)
    return chosen, rows


def val_of(rows: list[dict], recipe: Recipe) -> float:
    return max(r["val_accuracy"] for r in rows if r["recipe"] == recipe.to_json())


def leaders(chosen: dict[str, Recipe], rows: list[dict]) -> tuple[str, str]:
    """(the best synthetic arm, the strongest arm without synthetic data), both by validation accuracy."""
    pick = lambda arms: max(arms, key=lambda a: val_of(rows, chosen[a]))  # noqa: E731
    return pick(SYNTHETIC_ARMS), pick(BASELINE_ARMS)
