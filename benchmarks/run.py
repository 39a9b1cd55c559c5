"""genforge benchmarks: each figure is measured beside a peer in the same run and reported as a ratio.

    python benchmarks/run.py [--quick] [--only NAME ...]

Writes benchmarks/results/<name>.json and re-renders the generated part of docs/BENCHMARKS.md.
Run it on an otherwise idle machine: with 2 cores, a second CPU-heavy job skews every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def machine() -> dict:
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def render() -> str:
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        r = json.loads(path.read_text())
        rows.append(f"### {r['title']}\n\n`{r['command']}` — {r['machine']['date']}, {r['machine']['cpu_count']} cores, "
                    f"torch {r['machine']['torch']} ({r['machine']['torch_threads']} threads)\n\n{r['table']}\n\n{r.get('note', '')}\n")
    return "\n".join(rows)


def write_doc() -> None:
    text = DOC.read_text() if DOC.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render()}\n{END}{tail}")


def main() -> int:
    from bench_augment import bench_augment
    from bench_checkpoint import bench_checkpoint
    from bench_demo import bench_demo
    from bench_diffusion_peer import bench_diffusion_peer
    from bench_eval import bench_eval
    from bench_families import bench_families
    from bench_sampler_fid import bench_sampler_fid
    from bench_study import bench_study
    from bench_sweep import bench_sweep
    from bench_train_step import bench_train_step

    benches = {"train_step": bench_train_step, "checkpoint": bench_checkpoint, "eval": bench_eval, "demo": bench_demo,
               "augment": bench_augment, "families": bench_families, "sampler_fid": bench_sampler_fid,
               "diffusion_peer": bench_diffusion_peer, "study": bench_study,
               "sweep": bench_sweep}
    slow = ("demo", "augment", "families", "sampler_fid", "diffusion_peer", "study", "sweep")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repetitions; skips the benchmarks that train models (minutes each)")
    p.add_argument("--only", nargs="*", choices=sorted(benches), help="run only these")
    a = p.parse_args()
    names = a.only or [n for n in benches if not (a.quick and n in slow)]
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        print(f"== {name}", flush=True)
        result = benches[name](quick=a.quick)
        result["machine"] = machine()
        result["command"] = f"python benchmarks/run.py{' --quick' if a.quick else ''} --only {name}"
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(result["table"], flush=True)
    write_doc()
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
