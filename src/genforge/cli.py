"""The `genforge` command line: parse, call the Python API, print. No logic lives here."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from genforge import __version__
from genforge.cli_augment import add_augment_parsers
from genforge.cli_common import EPILOG, _log, _request, _sampling_flags

def cmd_train(a: argparse.Namespace) -> int:
    from genforge.api import train

    overrides = list(a.set or [])
    if a.on_bad:
        overrides.append(f'data.on_bad="{a.on_bad}"')
    if a.device:
        overrides.append(f'train.device="{a.device}"')
    r = train(data=a.data, model=a.model, out=a.out, steps=a.steps, time_budget=a.time_budget,
              overrides=overrides, resume=a.resume, init_from=a.init_from, log=_log)
    best = f"best {r.metric} {r.best_value:.4g} at step {r.best_step}" if r.best_value is not None else "no evaluation"
    print(f"trained {r.run.path} to step {r.step} in {r.seconds:.0f}s; {best}")
    return 130 if r.interrupted else 0


def cmd_sample(a: argparse.Namespace) -> int:
    from genforge.api import load, save_samples

    gen = load(a.run, a.checkpoint, use_ema=not a.no_ema, log=_log, request=_request(a))
    images = gen.sample(a.n, a.label, a.seed)
    labels = gen.labels_for(a.n, a.label)
    out = save_samples(images, Path(a.out), gen.provenance(a.seed, a.label), labels)
    print(f"wrote {a.n} samples from {gen.run.path} checkpoint {gen.checkpoint.step} to {out}")
    return 0


def cmd_reconstruct(a: argparse.Namespace) -> int:
    from genforge.api import reconstruct

    out = reconstruct(a.run, a.n, a.out, a.split, a.checkpoint, log=_log)
    print(f"wrote {out}: {a.split} inputs (odd rows) above their reconstructions (even rows)")
    return 0


def cmd_runs(a: argparse.Namespace) -> int:
    from genforge.core.runs import list_runs

    rows = list_runs(Path(a.root))
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no runs under {a.root}")
        return 0
    print(f"{'run':24} {'model':8} {'data':12} {'step':>7} {'best':>22} {'size':>9}")
    for r in rows:
        best = r.get("best")
        best_s = f"{_shown(best['metric'])} {best['value']:.4g}@{best['step']}" if best and best.get("value") is not None else "-"
        print(f"{_shown(r['name'])[:24]:24} {_shown(r.get('model', '?')):8} {_shown(r.get('data', '?'))[-12:]:12} "
              f"{r['step']:7d} {best_s:>22} {r['size_bytes'] / 2**20:8.1f}M"
              + (f"  (error: {_shown(r['error'])})" if "error" in r else ""))
    return 0


def _shown(text) -> str:
    """Text from files on disk, safe to print to a terminal (no escape sequences, one line)."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def cmd_inspect(a: argparse.Namespace) -> int:
    from genforge.data.inspect import format_report, inspect

    report = inspect(a.data, a.image_size)
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from genforge.demo import DEMO_STEPS, run_demo

    report = run_demo(a.out, a.steps or DEMO_STEPS, log=_log)
    return 0 if report["passed"] or a.steps else 1


def cmd_eval(a: argparse.Namespace) -> int:
    from genforge.api import evaluate_run
    from genforge.evaluation.evaluate import EvalSettings

    settings = EvalSettings(n=a.n, n_real=a.n_real, split=a.split, seed=a.seed, resamples=a.resamples,
                            extractor="inception" if a.inception_weights else "domain",
                            inception_weights=a.inception_weights, inception_sha256=a.inception_sha256, cas=not a.no_cas)
    sweep = (tuple(a.sweep_steps or ()) if a.sampler_sweep or a.sweep_steps else None)
    result = evaluate_run(a.run, settings, a.checkpoint, log=_log, request=_request(a), sweep_steps=sweep, sweep_n=a.sweep_n)
    for name, m in result["metrics"].items():
        ci = f"[{m['ci95'][0]:.4g}, {m['ci95'][1]:.4g}]" if m["ci95"] else ""
        floor = f"floor {m['floor']:.4g}" if m["floor"] is not None else ""
        print(f"{name:22} {m['value']:10.4g}  {ci:24} {floor}")
        for w in m["warnings"]:
            print(f"{'':22} warning: {w}")
    print(f"wrote {Path(a.run) / 'eval' / 'metrics.json'} and report.html in {result['seconds']}s")
    return 0


def cmd_compare(a: argparse.Namespace) -> int:
    from genforge.core.errors import GenforgeError
    from genforge.evaluation.compare import compare, format_rows, load_metrics, write_html

    results = []
    for run in (a.run_a, a.run_b):
        path = Path(run) / "eval" / "metrics.json"
        if not path.is_file():
            raise GenforgeError(f"{run} has no eval/metrics.json; run `genforge eval {run}` first")
        results.append(load_metrics(path))
    rows = compare(*results)
    print(format_rows(rows, a.run_a, a.run_b))
    if a.html:
        print(f"wrote {write_html(rows, a.run_a, a.run_b, Path(a.html))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="genforge", description="Train, measure and deploy generative models on your own data.",
                                epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"genforge {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a generator (or --resume one)", epilog=EPILOG,
                       description="Train a generator on a built-in dataset or your own data. Writes a run directory "
                                   "with checkpoints, metrics.jsonl, TensorBoard events and sample grids.")
    t.add_argument("--data", help="built-in name (mnist, digits) or a path: image folder (one subfolder per class) or .npz")
    t.add_argument("--model", help="model family: cgan (conditional), dcgan (unconditional)")
    t.add_argument("--out", help="run directory (default runs/<model>-<data>)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, help="number of training steps (default 2000)")
    g.add_argument("--time-budget", help="train for about this long, e.g. 5m (with --resume: this much longer); "
                                         "converted to a step count from a measured warm-up")
    t.add_argument("--resume", metavar="RUN",
                   help="continue RUN from its newest intact checkpoint (bit-exact on CPU); may change only steps, time "
                        "budget, cadences, keep_last, patience, threads and device (docs/run-format.md)")
    t.add_argument("--init-from", metavar="RUN", help="fine-tune: start from RUN's best weights")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field by dotted path, e.g. train.batch_size=32 (repeatable)")
    t.add_argument("--on-bad", choices=["skip", "fail"], help="unreadable image files: skip them (with a count) or stop (default)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="generate samples from a run", epilog=EPILOG,
                       description="Generate images from a trained run into a PNG grid (with provenance in tEXt chunks) or .npz.")
    s.add_argument("run", help="run directory")
    s.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--label", type=int, help="class index for every sample (default: cycle through the classes)")
    s.add_argument("--seed", type=int, default=0,
                   help="noise seed (default 0); sample i of seed S has its own noise, so a larger --n keeps the first samples")
    s.add_argument("--out", default="samples.png",
                   help="output .png grid, .npz, or a new folder (no suffix) of PNGs, one subfolder per class (default samples.png)")
    s.add_argument("--checkpoint", default="best", help="best (default), latest, or a step number")
    s.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA weights")
    _sampling_flags(s)
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("eval", help="metrics with CIs and floors, report.html", epilog=EPILOG,
                       description="Evaluate a run: FID, KID, precision/recall/density/coverage, classifier score, "
                                   "conditional accuracy, CAS, memorisation and two membership-inference attacks (privacy), "
                                   "each with a bootstrap CI, the real-vs-real floor and provenance. Writes RUN/eval/metrics.json and RUN/eval/report.html.")
    e.add_argument("run", help="run directory")
    e.add_argument("--n", type=int, default=1000, help="generated samples (default 1000)")
    e.add_argument("--n-real", type=int, metavar="N", help="real reference images, a seeded random subset of the split (default: all of it)")
    e.add_argument("--split", default="test", choices=["val", "test"], help="real reference split (default test)")
    e.add_argument("--seed", type=int, default=0, help="sampling and bootstrap seed (default 0)")
    e.add_argument("--resamples", type=int, default=50, help="bootstrap resamples per CI (default 50)")
    e.add_argument("--checkpoint", default="best", help="best (default), latest, or a step number")
    e.add_argument("--inception-weights", metavar="PATH", help="InceptionV3 safetensors for FID features (docs/inception-weights.md)")
    e.add_argument("--inception-sha256", metavar="HEX", help="expected SHA-256 of --inception-weights")
    e.add_argument("--no-cas", action="store_true", help="skip CAS (it trains a classifier on generated images)")
    _sampling_flags(e)
    e.add_argument("--sampler-sweep", action="store_true",
                   help="also evaluate every sampler of the family at several step counts (KID vs steps and vs seconds, "
                        "in the report and metrics.json); diffusion only")
    e.add_argument("--sweep-steps", type=int, nargs="+", metavar="N", help="step counts of the sweep (default 5 10 20 50)")
    e.add_argument("--sweep-n", type=int, metavar="N", help="samples per sweep point (default 500)")
    e.set_defaults(func=cmd_eval)

    add_augment_parsers(sub)

    rc = sub.add_parser("reconstruct", help="VAE: held-out images beside their reconstructions", epilog=EPILOG,
                        description="Encode and decode N images spread over the test (or val) split with a VAE/CVAE run; "
                                    "writes a PNG whose rows alternate inputs and reconstructions.")
    rc.add_argument("run", help="run directory of a vae or cvae")
    rc.add_argument("--n", type=int, default=30, help="images (default 30)")
    rc.add_argument("--split", default="test", choices=["val", "test"], help="held-out split (default test)")
    rc.add_argument("--out", default="reconstructions.png", help="output PNG (default reconstructions.png)")
    rc.add_argument("--checkpoint", default="best", help="best (default), latest, or a step number")
    rc.set_defaults(func=cmd_reconstruct)

    c = sub.add_parser("compare", help="which of two evaluated runs is better, beyond the CIs", epilog=EPILOG)
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--html", metavar="PATH", help="also write an HTML table")
    c.set_defaults(func=cmd_compare)

    r = sub.add_parser("runs", help="list runs with step, best metric and size", epilog=EPILOG)
    r.add_argument("root", nargs="?", default="runs", help="folder holding run directories (default runs)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=cmd_runs)

    d = sub.add_parser("data", help="dataset tools", epilog=EPILOG)
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    di = dsub.add_parser("inspect", help="counts per class, shape, value range, broken files, duplicates",
                         description="Report what a dataset holds: counts per class, shape, value range, broken files, "
                                     "exact duplicates (same pixels) and near duplicates (perceptual hash).")
    di.add_argument("data", help="built-in name or path")
    di.add_argument("--image-size", type=int, help="resize to this size first, as training would")
    di.add_argument("--json", action="store_true", help="print JSON")
    di.set_defaults(func=cmd_inspect)

    m = sub.add_parser("demo", help="the whole loop on bundled MNIST in about 5 minutes", epilog=EPILOG,
                       description="Train the conditional GAN on bundled MNIST, write a 10x10 grid, and check it with a judge classifier.")
    m.add_argument("--out", default="runs/demo", help="run directory (default runs/demo; a free name is chosen if taken)")
    m.add_argument("--steps", type=int, help="override the calibrated step count (acceptance is then reported, not enforced)")
    m.set_defaults(func=cmd_demo)
    return p


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (what is wrong, where to look) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


EXIT_USER, EXIT_BUG, EXIT_INTERRUPTED = 2, 70, 130


def main(argv: list[str] | None = None) -> int:
    from genforge.core.errors import GenforgeError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except GenforgeError as err:
        print(f"error: {_shown(err)}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `genforge runs | head`: the reader left; nothing to report
        return 0
    except Exception as err:  # the safety net for bugs, not a fix: tests fail on this exit code  # noqa: BLE001
        log = _crash_log(args)
        print(f"error: internal error ({type(err).__name__}: {_shown(str(err).splitlines()[0][:200]) if str(err) else ''}); "
              f"this is a bug in genforge, not your input. The traceback is in {log}; please report it", file=sys.stderr)
        return EXIT_BUG


def _crash_log(args: argparse.Namespace) -> str:
    """Write the traceback to RUN/logs/ when the command names a run, else to the cache folder; return its path."""
    import os
    import time
    import traceback

    from genforge import __version__ as version

    text = f"genforge {version}\nargv: {sys.argv}\n\n{traceback.format_exc()}"
    name = f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    run = next((getattr(args, k) for k in ("run", "resume", "out") if getattr(args, k, None)), None)
    cache = Path(os.environ.get("GENFORGE_CACHE", Path.home() / ".cache" / "genforge")).expanduser()
    folders = ([Path(run) / "logs"] if run and (Path(run) / "config.json").is_file() else []) + [cache / "logs"]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return str(folder / name)
        except OSError:
            continue
    sys.stderr.write(text)  # nowhere to write: the traceback is the only record left
    return "the output above"
