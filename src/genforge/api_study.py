"""`genforge augment-study`: for each (family, real fraction, generator seed), train a generator on that
stratified subset only, run `genforge augment` on it, and aggregate the lifts per regime.

Resumable cell by cell: a finished generator (``DIR/<cell>/study-trained.json``) is not retrained, an
interrupted one is resumed, and a cell with an ``augment/augment.json`` is not measured again. The
recipes are chosen on the validation split for each regime's first generator and reused for the others,
so a regime costs one search. The study's settings are fixed in ``DIR/study.json``: a rerun with other
settings is refused instead of mixing two studies.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from genforge.core import checkpoint as ck
from genforge.core.config import DataConfig
from genforge.core.errors import GenforgeError, check_count
from genforge.core.registry import MODELS
from genforge.data.prepare import prepare

MIN_PER_CLASS = 2


def _cell(out: Path, model: str, fraction: float, gseed: int) -> Path:
    return out / f"{model}-f{fraction:g}-g{gseed}"


def _check_regime(data: str, fraction: float, overrides: list[str]) -> None:
    """Refuse, before any training, a fraction that leaves a class with fewer than MIN_PER_CLASS images."""
    from genforge.api import resolve_config
    from genforge.augment.lift import classes_below

    cfg = resolve_config(data=data, overrides=overrides + [f"data.train_fraction={fraction}", "data.stratify=true"])
    prepared = prepare(DataConfig(**cfg.data.model_dump()), warn=lambda *_: None)
    if prepared.train.y is None:
        raise GenforgeError(f"{data} has no labels: an augmentation study needs a labelled dataset")
    short = classes_below(prepared.train.y, list(prepared.info.classes), MIN_PER_CLASS)
    if short:
        raise GenforgeError(f"at --fractions {fraction:g} the stratified subset has fewer than {MIN_PER_CLASS} images of "
                            f"class {', '.join(short[:10])}; use a larger fraction")


def _settings(data, models, fractions, generator_seeds, seeds, steps, time_budget, classifier_steps, overrides) -> dict:
    return {"data": data, "models": list(models), "fractions": [float(f) for f in fractions], "generator_seeds": generator_seeds,
            "classifier_seeds": seeds, "steps": steps, "time_budget": time_budget, "classifier_steps": classifier_steps,
            "overrides": list(overrides)}


def augment_study(data: str, models: list[str], fractions: list[float], out: str | Path, generator_seeds: int = 3,
                  seeds: int = 3, steps: int | None = None, time_budget: str | None = "5m", classifier_steps: int = 800,
                  overrides: list[str] | None = None, log=print) -> dict:
    from genforge.api import train
    from genforge.api_augment import augment_run, fixed_from

    t0 = time.perf_counter()
    overrides = list(overrides or [])
    check_count("--generator-seeds", generator_seeds, 1, 20)
    check_count("--seeds", seeds, 2, 100)
    if not fractions or any(not (isinstance(f, (int, float)) and 0 < f < 1) for f in fractions):
        raise GenforgeError(f"--fractions must be numbers in (0, 1), got {fractions}")
    for m in models:
        MODELS.get(m)  # unknown families fail here
    for f in fractions:
        _check_regime(data, f, overrides)
    out = Path(out)
    settings = _settings(data, models, fractions, generator_seeds, seeds, steps, time_budget, classifier_steps, overrides)
    marker = out / "study.json"
    if marker.is_file():
        try:
            before = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            raise GenforgeError(f"{marker} is unreadable ({err}); choose a new --out") from None
        if before != settings:
            raise GenforgeError(f"{out} holds a study with other settings ({marker}); choose a new --out to start another")
        log(f"resuming the study in {out}")
    out.mkdir(parents=True, exist_ok=True)
    ck.atomic_write_text(marker, json.dumps(settings, indent=2) + "\n")
    budget = {"steps": steps} if steps is not None else {"time_budget": time_budget}
    for model in models:
        for fraction in fractions:
            first = None
            for g in range(generator_seeds):
                cell = _cell(out, model, fraction, g)
                done = cell / "study-trained.json"
                if not done.is_file():
                    log(f"== {cell.name}: training {model} on {fraction:g} of the train split (stratified), seed {g}")
                    sets = overrides + [f"data.train_fraction={fraction}", "data.stratify=true", f"train.seed={g}"]
                    r = (train(resume=cell, log=log) if (cell / "config.json").is_file()
                         else train(data=data, model=model, out=cell, overrides=sets, log=log, **budget))
                    ck.atomic_write_text(done, json.dumps({"step": r.step, "seconds": r.seconds}) + "\n")
                result_path = cell / "augment" / "augment.json"
                if not result_path.is_file():
                    log(f"== {cell.name}: augment")
                    fixed = None if first is None else fixed_from(json.loads(first.read_text()), str(first.parent.parent))
                    augment_run(cell, seeds=seeds, classifier_steps=classifier_steps, fixed=fixed, log=log)
                first = first or result_path
    result = aggregate(out, models, fractions, generator_seeds)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    ck.atomic_write_text(out / "results.json", json.dumps(result, indent=2) + "\n")
    write_plot(result, out / "lifts.png")
    return result


def _delta(cells: list[Path], arm: str, base: str) -> np.ndarray:
    """Δ[g, s, i] of arm minus base over the cells' per-item scores (the same test items in each)."""
    scores = [json.loads((c / "augment" / "scores.json").read_text()) for c in cells]
    if any(s["test_ids"] != scores[0]["test_ids"] for s in scores):
        raise GenforgeError("the study's cells were scored on different test items; was the data changed mid-study?")
    return np.stack([np.asarray(s["correct"][arm], float) - np.asarray(s["correct"][base], float) for s in scores])


def aggregate(out: Path, models: list[str], fractions: list[float], generator_seeds: int) -> dict:
    from genforge.augment.study import lift_summary, verdicts

    regimes = []
    for model in models:
        for fraction in fractions:
            cells = [_cell(out, model, fraction, g) for g in range(generator_seeds)]
            results = [json.loads((c / "augment" / "augment.json").read_text()) for c in cells]
            first = results[0]
            arm, base = first["chosen"]["arm"], first["chosen"]["lift_vs_classic"]["against"]
            arms = {a: float(np.mean([r["arms"][a]["accuracy"] for r in results])) for a in first["arms"]}
            copies = [r["synthetic"]["copy_check"]["nn_distance_ratio"] for r in results]
            regimes.append({"model": model, "fraction": fraction, "n_real": first["n_real"], "chosen_arm": arm,
                            "baseline_arm": base, "recipes": {a: m["recipe"] for a, m in first["arms"].items()},
                            "accuracy": arms, "nn_distance_ratio": copies,
                            "vs_none": lift_summary(_delta(cells, arm, "none")),
                            "vs_classic": lift_summary(_delta(cells, arm, base))})
    for key in ("vs_none", "vs_classic"):  # Holm across the study's regimes, each comparison on its own
        for r, v in zip(regimes, verdicts([r[key] for r in regimes])):
            r[key] = v
    return {"regimes": regimes, "statistics": "one-sided 95 % bounds; verdicts by one-sided tests at 0.05, Holm-adjusted "
                                              "across regimes: helps (Δ > 0), does not help (Δ < +1 point), else inconclusive"}


def write_plot(result: dict, path: Path) -> None:
    """Both lifts vs real fraction, one line per family, with one-sided 95 % bounds as error bars, verdicts as labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, title in ((axes[0], "vs_none", "lift vs no augmentation"), (axes[1], "vs_classic", "lift vs classic augmentation")):
        models = sorted({r["model"] for r in result["regimes"]})
        for k, model in enumerate(models):
            rows = sorted((r for r in result["regimes"] if r["model"] == model), key=lambda r: r["fraction"])
            dodge = 1.06 ** (k - (len(models) - 1) / 2)  # families side by side at a shared fraction (log axis)
            x = [r["fraction"] * dodge for r in rows]
            y = np.array([100 * r[key]["value"] for r in rows])
            err = np.array([[100 * (r[key]["value"] - r[key]["lower95"]) for r in rows],
                            [100 * (r[key]["upper95"] - r[key]["value"]) for r in rows]])
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=model)
            for xi, yi, r in zip(x, y, rows):
                ax.annotate(r[key]["verdict"], (xi, yi), textcoords="offset points", xytext=(4, 6 + 10 * (k - 1)), fontsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xscale("log")
        fractions = sorted({r["fraction"] for r in result["regimes"]})
        ax.set_xticks(fractions, [f"{f:.0%}" if f >= 0.01 else f"{f:.1%}" for f in fractions])
        ax.minorticks_off()
        ax.set_xlim(min(fractions) / 1.3, max(fractions) * 1.3)
        ax.set_xlabel("real fraction of the train split")
        ax.set_title(title)
        ax.legend()
    axes[0].set_ylabel("accuracy points (one-sided 95 % bounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
