"""Helpers of the hostile-input tests: a tiny trained run to damage, and the invariants every command must keep."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from conftest import TINY
from genforge import cli
from genforge.core import checkpoint as ck
from genforge.core.runs import load_config

STEPS = (0, 10, 20)


def make_template(folder: Path) -> Path:
    from genforge.api import train

    run = folder / "run"
    train(out=run, steps=20, overrides=TINY, log=lambda m: None)
    assert [c.step for c in ck.complete_checkpoints(run / "checkpoints")] == list(STEPS)
    return run


def make_world(template: Path, folder: Path) -> tuple[Path, Path]:
    """(run, outside): a fresh copy of the run, and a folder beside it that no command may touch."""
    run = folder / "runs" / "r"
    shutil.copytree(template, run)
    outside = folder / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not genforge's")
    (outside / "config.json").write_text("{}")
    return run, outside


def set_path(d: dict, path: str, v) -> dict:
    node = d
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = v
    return d


# ---- helpers -----------------------------------------------------------------------------------------
def sha(path: Path) -> str:
    if path.stat().st_size > 64 << 20:  # the planted sparse giants: their size stands for their content
        return f"size:{path.stat().st_size}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def ckpt(run: Path, step: int) -> Path:
    return run / "checkpoints" / str(step)


def rewrite_manifest(folder: Path, edit=None) -> None:
    """Re-hash every file (the attacker's move: make the manifest match), then apply ``edit`` to the manifest."""
    files = sorted(p.name for p in folder.iterdir() if p.name != "MANIFEST.json")
    m = {"step": int(folder.name), "files": {f: sha(folder / f) for f in files},
         "sizes": {f: (folder / f).stat().st_size for f in files}}
    (folder / "MANIFEST.json").write_text(json.dumps(edit(m) if edit else m))


def edit_json(path: Path, fn) -> None:
    path.write_text(json.dumps(fn(json.loads(path.read_text()))))


def cli_main(*args: str, capsys) -> tuple[int, str]:
    rc = cli.main(list(args))
    captured = capsys.readouterr()
    cli_main.stdout = captured.out
    return rc, captured.err


def check_outcome(rc: int, err: str, allowed=(0, 2)) -> None:
    assert "Traceback" not in err, err
    assert rc != 70, err
    assert rc in allowed, (rc, err)
    if rc == 2:
        errors = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err


def intact_steps(run: Path) -> dict[int, dict[str, str]]:
    intact, _ = ck.partition(run / "checkpoints")
    return {c.step: tree_digest(c.path) for c in intact}


def run_commands(run: Path, outside: Path, capsys, commands=("sample", "resume", "runs")) -> dict[str, tuple[int, str]]:
    """Run each command on the damaged run and check the invariants after each."""
    before_outside = tree_digest(outside)
    results = {}
    for command in commands:
        before = intact_steps(run)
        args = {
            "sample": ("sample", str(run), "--n", "4", "--checkpoint", "latest", "--out", str(run.parent / "s.npz")),
            "resume": ("train", "--resume", str(run), "--steps", "25"),
            "runs": ("runs", str(run.parent)),
            "eval": ("eval", str(run), "--n", "20", "--resamples", "2", "--no-cas"),
        }[command]
        rc, err = cli_main(*args, capsys=capsys)
        check_outcome(rc, err, allowed=(0,) if command == "runs" else (0, 2))
        after = intact_steps(run)
        kept = [tree_digest(q) for q in ck.quarantined(run / "checkpoints")]
        # every checkpoint that verified before is still there, unchanged: in place, or renamed <step>.corrupt
        # by the writer because it verified but did not load (only a resume may do that) ...
        gone = [s for s, d in before.items() if after.get(s) != d and not (command == "resume" and d in kept)]
        if gone:  # ... or pruned by a successful resume under the run's own retention rule: older than the newest keep_last
            assert command == "resume" and rc == 0, (command, gone, err)
            keep_last = load_config(run).train.keep_last
            assert max(gone) < min(sorted(after)[-keep_last:]), (gone, sorted(after), keep_last, err)
        assert tree_digest(outside) == before_outside
        results[command] = (rc, err)
    return results


