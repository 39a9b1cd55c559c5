"""`genforge augment RUN`: synthetic labelled images from a run, and whether they lift a downstream classifier.

The steps, in the order that keeps the test split honest: checks (leak, labels, classes, sizes) before any
work; synthetic pools from the generator; each arm's recipe chosen on the validation split; the guard
locked; each chosen recipe trained per seed and scored once on test; augment.json written.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from genforge.core import checkpoint as ck
from genforge.core.config import MAX_SAMPLES, MAX_SEED
from genforge.core.errors import GenforgeError, check_count
from genforge.data.export import check_new_folder, save_samples
from genforge.data.prepare import prepare
from genforge.sampling.request import SampleRequest

DEFAULT_RATIO = 5  # synthetic images per real image in each pool (Azizi et al. 2023 found several times more useful)
DOWNSTREAM = ("cnn", "resnet")


def _check_flags(seeds, seed, classifier_steps, mix, strength, downstream, search_seeds) -> None:
    check_count("--seeds", seeds, 2, 100)
    check_count("--seed", seed, 0, MAX_SEED)
    check_count("--classifier-steps", classifier_steps, 1, 1_000_000)
    check_count("--search-seeds", search_seeds, 1, 20)
    if mix is not None and not (isinstance(mix, (int, float)) and 0 < mix < 1):
        raise GenforgeError(f"--mix is the synthetic share of each batch and must be in (0, 1), got {mix}")
    if strength is not None and not (isinstance(strength, (int, float)) and 0 < strength <= 1):
        raise GenforgeError(f"--strength is the classic augmentation strength and must be in (0, 1], got {strength}")
    if downstream not in DOWNSTREAM:
        raise GenforgeError(f"unknown --downstream '{downstream}'; choose one of: {', '.join(DOWNSTREAM)}")


def _check_classes(real, classes: list[str], minimum: int = 1) -> None:
    from genforge.augment.lift import classes_below

    short = classes_below(real.y, classes, minimum)
    if short:
        raise GenforgeError(f"the real subset has fewer than {minimum} image(s) of class {', '.join(short[:10])}; "
                            "raise --real-fraction (or data.train_fraction) so that every class is present")


def augment_run(run: str | Path, n: int | None = None, real_fraction: float | None = None, seeds: int = 3,
                seed: int = 0, out: str | Path | None = None, allow_leak: bool = False, checkpoint: str = "best",
                classifier_steps: int = 800, mix: float | None = None, strength: float | None = None,
                downstream: str = "cnn", search_seeds: int = 1, log=print, request: SampleRequest | None = None,
                fixed: dict | None = None) -> dict:
    """``fixed`` skips the validation search: {"recipes": {arm: Recipe}, "synthetic_arm", "baseline_arm", "from"}
    (augment-study searches on its first generator and reuses the recipes for the others)."""
    from genforge.api import load
    from genforge.augment.downstream import ImageDownstream
    from genforge.augment.leak import leak_problem, lineage
    from genforge.augment.lift import MIN_REAL, measure_arms
    from genforge.augment.pools import copy_check, make_pools, variants
    from genforge.augment.search import DEFAULT_SHARES, leaders, search
    from genforge.augment.test_reads import TestReads
    from genforge.evaluation.evaluate import labels_like

    t0 = time.perf_counter()
    _check_flags(seeds, seed, classifier_steps, mix, strength, downstream, search_seeds)
    gen = load(run, checkpoint, log=log, request=request)
    if not gen.conditional:
        raise GenforgeError(f"{gen.run.path} is an unconditional {gen.config.model.name}: augmentation needs labelled "
                            "synthetic images; train a class-conditional model (cgan, cvae, or diffusion on labelled data)")
    gen_fraction = gen.config.data.train_fraction
    real_fraction = gen_fraction if real_fraction is None else real_fraction
    if not (isinstance(real_fraction, (int, float)) and 0 < real_fraction <= 1):
        raise GenforgeError(f"--real-fraction must be in (0, 1], got {real_fraction}")
    baseline = gen.config.data.model_copy(update={"train_fraction": real_fraction})
    data = prepare(baseline, warn=log)
    if data.info.content_hash != gen.info.content_hash:
        raise GenforgeError(f"the dataset {gen.config.data.name} changed since {gen.run.path} was trained; "
                            "its test split may hold images the generator saw, so no lift can be measured")
    if (data.info.channels, data.info.image_size, data.info.num_classes) != (gen.info.channels, gen.info.image_size, gen.info.num_classes):
        raise GenforgeError(f"{gen.run.path} makes {gen.info.channels}x{gen.info.image_size}px images of "
                            f"{gen.info.num_classes} classes, but the data loads as {data.info.channels}x"
                            f"{data.info.image_size}px with {data.info.num_classes}; augment needs the generator's own data")
    chain = lineage(gen.run.path)
    leak = leak_problem(chain, baseline, data.info.content_hash)
    if leak and not allow_leak:
        raise GenforgeError(f"{leak}. Train a generator on that subset (genforge train ... --set data.train_fraction="
                            f"{real_fraction}) and augment that run, or pass --allow-leak to measure anyway")
    if leak:
        log(f"WARNING: {leak}. The result is marked leaked=true and is not evidence that synthetic data helps.")
    real, val, test = data.train, data.val, data.test
    if min(len(real), len(val), len(test)) < MIN_REAL:
        raise GenforgeError(f"the real subset has {len(real)} images, val {len(val)} and test {len(test)}; "
                            f"the lift needs at least {MIN_REAL} of each (raise --real-fraction or add data)")
    _check_classes(real, list(data.info.classes))
    n = DEFAULT_RATIO * len(real) if n is None else n
    check_count("--n", n, 1, MAX_SAMPLES)
    folder = gen.run.path / "augment"
    default_out = out is None
    out = Path(out) if out is not None else folder / "synthetic"
    if out.suffix.lower() not in ("", ".npz"):
        raise GenforgeError(f"--out must be a folder (no suffix) or .npz, got '{out.name}'")
    if not default_out and out.suffix == "":
        check_new_folder(out)  # before sampling, not after
    for stale in ("augment.json", "scores.json"):  # an earlier result must not outlive the samples it described
        (folder / stale).unlink(missing_ok=True)

    labels = labels_like(real, n, True)
    requests = variants(request, {k: getattr(gen.request, k) for k in gen.spec.sampling.defaults})
    log(f"sampling {len(requests)} pool(s) of {n} synthetic images from {gen.run.path} (checkpoint {gen.checkpoint.step}) ...")
    pools, about = make_pools(lambda req, lab: gen.sample(len(lab), lab.tolist(), seed, request=req), real, data.info, n,
                              labels, requests, log, filter_updates=classifier_steps)
    guard = TestReads(test, folder / "test-reads.jsonl",
                      {"run": str(gen.run.path), "checkpoint": gen.checkpoint.step, "session": f"{time.time():.0f}"})
    score = ImageDownstream(real, pools, val, guard, data.info, classifier_steps, downstream)
    if fixed is None:
        log(f"choosing each arm's recipe on the validation split ({len(val)} images, real subset {len(real)}) ...")
        chosen, rows = search(score, list(pools), [mix] if mix is not None else DEFAULT_SHARES,
                              [strength] if strength is not None else None, search_seeds, log)
        synthetic_arm, baseline_arm = leaders(chosen, rows)
    else:
        chosen, rows = {arm: _pool_here(r, pools, log) for arm, r in fixed["recipes"].items()}, []
        synthetic_arm, baseline_arm = fixed["synthetic_arm"], fixed["baseline_arm"]
        log(f"using the recipes chosen on validation for {fixed['from']}")
    guard.lock(chosen.values())  # from here on the test split may be read, each chosen recipe once per seed
    log(f"training each arm's chosen recipe on {seeds} seeds, scored on the {len(test)} test images ...")
    result = measure_arms(score, chosen, synthetic_arm, baseline_arm, test.y.numpy(), list(data.info.classes), seeds, log)
    pool_key = chosen[synthetic_arm].pool
    if default_out:
        shutil.rmtree(out, ignore_errors=True)  # our own output of an earlier augment: replaced
    written = save_samples(pools[pool_key].x, out, gen.provenance(seed, "real-subset class mix"), pools[pool_key].y,
                           classes=list(data.info.classes))
    result.update({
        "search": {"split": "val", "reused_from": fixed and fixed["from"], "n_val": len(val), "rows": rows, "search_seeds": search_seeds,
                   "budget": "every arm with knobs tries as many candidates as the synthetic arms' (share, pool) grid"},
        "synthetic": {"pools": about, "chosen_pool": pool_key, "copy_check": copy_check(pools[pool_key], real, test)},
        "intervals": "classifier seed x test item; one generator, so the generator's own variance is not in them "
                     "(genforge augment-study trains several)",
        "downstream": {"model": downstream, "classifier_steps": classifier_steps},
        "test_reads": {"log": str(folder / "test-reads.jsonl"), "this_session": guard.reads},
        "leaked": bool(leak), "leak_reason": leak, "samples": str(written), "seed": seed, "n_real": len(real),
        "real_fraction": real_fraction, "generator_train_fraction": gen_fraction,
        "generator_lineage": [a.run for a in chain], "run": {**gen.describe(), "dataset_hash": data.info.content_hash},
        "seconds": round(time.perf_counter() - t0, 1)})
    folder.mkdir(exist_ok=True)
    scores = {"test_ids": list(test.ids), "correct": result.pop("_scores")}  # per item: for augment-study's statistics
    ck.atomic_write_text(folder / "scores.json", json.dumps(scores) + "\n")
    ck.atomic_write_text(folder / "augment.json", json.dumps(result, indent=2, default=_json) + "\n")
    return result


def _pool_here(recipe, pools: dict, log):
    """A reused recipe whose filtered pool this generator did not get (its filter kept all or nearly none) uses the
    unfiltered pool of the same request."""
    import dataclasses

    if recipe.pool is None or recipe.pool in pools:
        return recipe
    base = recipe.pool.removesuffix("+filter")
    if base not in pools:
        raise GenforgeError(f"the reused recipe needs the synthetic pool '{recipe.pool}', which this generator does not have")
    log(f"note: pool {recipe.pool} is not available for this generator; {recipe.arm} uses {base}")
    return dataclasses.replace(recipe, pool=base)


def fixed_from(augment_json: dict, source: str) -> dict:
    """The ``fixed`` argument that reuses the recipes of an earlier augment.json."""
    from genforge.augment.downstream import Recipe

    return {"recipes": {arm: Recipe(**m["recipe"]) for arm, m in augment_json["arms"].items()},
            "synthetic_arm": augment_json["chosen"]["arm"], "baseline_arm": augment_json["chosen"]["lift_vs_classic"]["against"],
            "from": source}


def _json(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value)}")
