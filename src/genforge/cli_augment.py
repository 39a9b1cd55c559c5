"""The `genforge augment` and `augment-study` commands: parse, call the Python API, print."""
from __future__ import annotations

import argparse
from pathlib import Path

from genforge.cli_common import EPILOG, _log, _request, _sampling_flags


def cmd_augment(a: argparse.Namespace) -> int:
    from genforge.api import augment_run

    r = augment_run(a.run, n=a.n, real_fraction=a.real_fraction, seeds=a.seeds, seed=a.seed, out=a.out,
                    allow_leak=a.allow_leak, checkpoint=a.checkpoint, classifier_steps=a.classifier_steps, mix=a.mix,
                    strength=a.strength, downstream=a.downstream, search_seeds=a.search_seeds, log=_log,
                    request=_request(a))
    print(f"downstream {r['downstream']['model']}, test accuracy on {r['n_test']} real test images, {r['seeds']} seeds "
          "(each arm's recipe chosen on the validation split):")
    for arm, m in r["arms"].items():
        recipe = ", ".join(f"{k} {v}" for k, v in m["recipe"].items() if k != "arm" and v not in (0.0, None))
        print(f"  {arm:18} {m['accuracy']:.4f}  [{m['ci95'][0]:.4f}, {m['ci95'][1]:.4f}]  {recipe}")
    chosen = r["chosen"]
    for key, label in (("lift_vs_none", "no augmentation"), ("lift_vs_classic", "the best arm without synthetic data")):
        lift = chosen[key]
        print(f"lift of {chosen['arm']} over {label} ({lift['against']}): {lift['value']:+.4f}  "
              f"[{lift['ci95'][0]:+.4f}, {lift['ci95'][1]:+.4f}]  -> {lift['verdict']}"
              + ("  (LEAKED: not evidence, see warning)" if r["leaked"] else ""))
    copy = r["synthetic"]["copy_check"]
    print(f"near-copy check: synthetic images lie {copy['nn_distance_ratio']:.2f}x as far from the real subset as test "
          "images do (median nearest-neighbour distance; below 1 means closer than new real data)")
    print(f"intervals: {r['intervals']}")
    print(f"wrote {r['samples']} and {Path(r['run']['run']) / 'augment' / 'augment.json'} in {r['seconds']}s")
    return 0


def cmd_augment_study(a: argparse.Namespace) -> int:
    from genforge.api_study import augment_study

    r = augment_study(a.data, a.model, a.fractions, a.out, a.generator_seeds, a.seeds, a.steps, a.time_budget,
                      a.classifier_steps, a.set, log=_log)
    print(f"{'family':10} {'fraction':>8} {'real':>5}  {'lift vs none (one-sided 95 %)':34} {'lift vs classic':34}")
    for g in r["regimes"]:
        cells = [f"{100 * g[k]['value']:+5.1f} [{100 * g[k]['lower95']:+5.1f}, {100 * g[k]['upper95']:+5.1f}] "
                 f"{g[k]['verdict']:13}" for k in ("vs_none", "vs_classic")]
        print(f"{g['model']:10} {g['fraction']:8g} {g['n_real']:5d}  {cells[0]:34} {cells[1]:34}")
    print(f"lifts in accuracy points; {r['statistics']}")
    print(f"wrote {Path(a.out) / 'results.json'} and {Path(a.out) / 'lifts.png'} in {r['seconds']}s")
    return 0


def add_augment_parsers(sub) -> None:
    au = sub.add_parser("augment", help="write synthetic labelled data and measure whether it helps a classifier",
                        epilog=EPILOG,
                        description="Sample labelled synthetic images from a conditional run and measure whether they lift a "
                                    "downstream classifier. Five arms: real with no augmentation, real + classic (random "
                                    "affine, optionally elastic) augmentation, real + synthetic, real + classic + synthetic, synthetic only. Each "
                                    "arm's knobs (synthetic share of each batch, synthetic pool, classic strength and elastic) "
                                    "are chosen on the validation split with the same budget (successive halving over "
                                    "classifier seeds); then each arm is trained once per seed and "
                                    "scored on the test split (every test read is logged in RUN/augment/test-reads.jsonl). "
                                    "Mixed arms make more updates so that every arm sees each real image equally often. "
                                    "Refuses a generator that saw more real data than the baseline (a leak): train it on a "
                                    "subset with --set data.train_fraction=0.05. Writes RUN/augment/.")
    au.add_argument("run", help="run directory of a conditional model")
    au.add_argument("--n", type=int, help="synthetic images per pool (default: 5x the real subset)")
    au.add_argument("--real-fraction", type=float, metavar="F",
                    help="fraction of the train split used as the real baseline (default: the run's data.train_fraction)")
    au.add_argument("--seeds", type=int, default=3, help="classifier seeds per arm on the test split (default 3, at least 2)")
    au.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    au.add_argument("--classifier-steps", type=int, default=800, metavar="N",
                    help="updates of the real-only arm (default 800); mixed arms make more, so that each real image is "
                         "seen as often in every arm")
    au.add_argument("--mix", type=float, metavar="R", help="fix the synthetic share of each batch, in (0, 1) "
                                                           "(default: chosen on val from 0.25 and 0.5)")
    au.add_argument("--strength", type=float, metavar="S", help="fix the classic augmentation strength, in (0, 1] "
                                                                "(default: chosen on val; elastic on or off is searched either way)")
    au.add_argument("--downstream", default="cnn", help="the downstream classifier: cnn (small, default) or resnet "
                                                       "(wider ResNet-style; slower)")
    au.add_argument("--search-seeds", type=int, default=1, metavar="K",
                    help="classifier seeds per candidate in the first round of the validation search "
                         "(default 1; each halving round doubles them for the better half)")
    au.add_argument("--out", help="where the synthetic images go: a new folder (one subfolder per class) or .npz "
                                  "(default RUN/augment/synthetic/)")
    au.add_argument("--checkpoint", default="best", help="best (default), latest, or a step number")
    au.add_argument("--allow-leak", action="store_true",
                    help="measure even when the generator saw real images the baseline did not (result marked leaked)")
    _sampling_flags(au)
    au.set_defaults(func=cmd_augment)

    st = sub.add_parser("augment-study", help="where does synthetic data help? generators per (family, fraction, seed), "
                                              "then augment, aggregated", epilog=EPILOG,
                        description="For each family, real fraction and generator seed: train a generator on that "
                                    "class-stratified subset of the train split only, run `genforge augment` on it, and "
                                    "aggregate the lifts per regime with generator, classifier-seed and test-item variance, "
                                    "one-sided 95 % bounds and Holm-adjusted verdicts (helps / does not help / "
                                    "inconclusive). Resumable cell by cell. Writes DIR/results.json and DIR/lifts.png.")
    st.add_argument("--data", default="mnist", help="a labelled dataset: built-in name, image folder or .npz (default mnist)")
    st.add_argument("--model", nargs="+", default=["diffusion"], metavar="M",
                    help="the conditional families to study (default diffusion)")
    st.add_argument("--fractions", nargs="+", type=float, default=[0.05, 0.1], metavar="F",
                    help="real fractions of the train split (default 0.05 0.1)")
    st.add_argument("--generator-seeds", type=int, default=3, metavar="G", help="generators per regime (default 3)")
    st.add_argument("--seeds", type=int, default=3, help="classifier seeds per arm and generator (default 3)")
    st.add_argument("--steps", type=int, help="generator training steps (instead of --time-budget)")
    st.add_argument("--time-budget", default="5m", help="generator training wall-clock per cell (default 5m)")
    st.add_argument("--classifier-steps", type=int, default=800, metavar="N", help="updates of the real-only arm (default 800)")
    st.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="config override for every generator, e.g. data.test_fraction=0.3 (repeatable)")
    st.add_argument("--out", required=True, help="the study folder (resumed when it exists with the same settings)")
    st.set_defaults(func=cmd_augment_study)
