"""Checkpoints with one commit point, a SHA-256 manifest, and no pickling (tensors in safetensors, the rest in JSON).

Layout of ``checkpoints/<step>/``: ``<net>.safetensors`` per network, ``optim-<net>.safetensors`` +
``optim-<net>.json`` per optimizer, ``state.json``, optional extra JSON files, and ``MANIFEST.json``.
Everything is written into ``<step>.tmp/``, fsynced, then renamed: the rename is the only commit.

Named crash points (``CRASH_POINTS``) let tests stop the save between any two writes: set
``GENFORGE_CRASH_AT=<point>`` (or ``<point>@<step>``) and the save raises :class:`CrashInjected` there (or, with
``GENFORGE_CRASH_MODE=exit``, the process dies with ``os._exit(137)`` like a SIGKILL).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genforge.core.errors import CheckpointError

MANIFEST = "MANIFEST.json"
STATE = "state.json"
CRASH_POINTS = (
    "begin",  # after the .tmp directory is created
    "after-nets",  # network weights written
    "after-optim",  # optimizer state written
    "after-state",  # state.json and extra files written
    "after-manifest",  # MANIFEST.json written, not yet fsynced
    "before-rename",  # all fsynced; the commit is the next call
    "after-rename",  # committed; pruning of old checkpoints not yet done
)


class CrashInjected(RuntimeError):
    """Raised at a named crash point (tests only)."""


def crash_point(name: str, step: int) -> None:
    """Crash here if GENFORGE_CRASH_AT is ``name`` or ``name@step``."""
    assert name in CRASH_POINTS, name
    if os.environ.get("GENFORGE_CRASH_AT") in (name, f"{name}@{step}"):
        if os.environ.get("GENFORGE_CRASH_MODE") == "exit":
            os._exit(137)
        raise CrashInjected(name)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    """Write a small file so that readers see the old or the new content, never a mix."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    _fsync_path(tmp)
    os.replace(tmp, path)


def _contiguous(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in sd.items()}


def flatten_optimizer(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state -> (tensors for safetensors, JSON-able rest)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in sd["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return _contiguous(tensors), {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    for idx, extra in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(extra)
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path

    def state(self) -> dict[str, Any]:
        return json.loads((self.path / STATE).read_text())


def save_checkpoint(
    ckpt_dir: Path,
    step: int,
    nets: dict[str, dict[str, torch.Tensor]],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict[str, Any],
    extra_json: dict[str, Any] | None = None,
) -> Checkpoint:
    """Write a complete checkpoint for ``step`` and commit it by one rename."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / str(step)
    tmp = ckpt_dir / f"{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        crash_point("begin", step)
        for name, sd in nets.items():
            save_file(_contiguous(sd), str(tmp / f"{name}.safetensors"))
        crash_point("after-nets", step)
        for name, opt in optimizers.items():
            tensors, meta = flatten_optimizer(opt)
            save_file(tensors, str(tmp / f"optim-{name}.safetensors"))
            write_json(tmp / f"optim-{name}.json", meta)
        crash_point("after-optim", step)
        write_json(tmp / STATE, state)
        for fname, obj in (extra_json or {}).items():
            write_json(tmp / fname, obj)
        crash_point("after-state", step)
        files = sorted(p.name for p in tmp.iterdir())
        write_json(tmp / MANIFEST, {"step": step, "files": {f: sha256_file(tmp / f) for f in files}})
        crash_point("after-manifest", step)
        for p in tmp.iterdir():
            _fsync_path(p)
        _fsync_path(tmp)
        crash_point("before-rename", step)
        if final.exists():  # a re-save of the same step (e.g. after resume): replace it whole
            shutil.rmtree(final)
        os.rename(tmp, final)
        _fsync_path(ckpt_dir)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        reason = "the disk is full" if err.errno == errno.ENOSPC else (err.strerror or str(err))
        raise CheckpointError(
            f"could not save checkpoint {step} in {ckpt_dir}: {reason}; earlier checkpoints are intact"
        ) from None
    crash_point("after-rename", step)
    return Checkpoint(step, final)


def complete_checkpoints(ckpt_dir: Path) -> list[Checkpoint]:
    """Committed checkpoints (directories named by an integer step), oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = [Checkpoint(int(p.name), p) for p in ckpt_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(found, key=lambda c: c.step)


def clean_stale(ckpt_dir: Path) -> list[str]:
    """Remove ``*.tmp`` leftovers of an interrupted save; returns their names."""
    removed = []
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.endswith(".tmp"):
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p.name)
    return removed


def verify(ckpt: Checkpoint) -> None:
    """Check every file against MANIFEST.json; raise CheckpointError naming the first bad one."""
    manifest_path = ckpt.path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError):
        raise CheckpointError(f"{manifest_path} is missing or unreadable") from None
    for fname, digest in files.items():
        path = ckpt.path / fname
        if not path.is_file():
            raise CheckpointError(f"{path} is missing")
        if sha256_file(path) != digest:
            raise CheckpointError(f"{path} does not match its SHA-256 in MANIFEST.json (truncated or altered)")


def load_tensors(ckpt: Checkpoint, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt.path / f"{name}.safetensors"))


def load_optimizer(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> None:
    tensors = load_file(str(ckpt.path / f"optim-{name}.safetensors"))
    meta = json.loads((ckpt.path / f"optim-{name}.json").read_text())
    unflatten_optimizer(opt, tensors, meta)


def newest_intact(ckpt_dir: Path, warn=print) -> Checkpoint | None:
    """The newest checkpoint that verifies; each skipped one is reported through ``warn``."""
    for ckpt in reversed(complete_checkpoints(ckpt_dir)):
        try:
            verify(ckpt)
            return ckpt
        except CheckpointError as err:
            warn(f"warning: {err}; falling back to an earlier checkpoint")
    return None


def prune(ckpt_dir: Path, keep_last: int, metric_key: str = "selection") -> list[int]:
    """Delete old checkpoints, keeping the newest ``keep_last`` and the best by ``metric_key``."""
    ckpts = complete_checkpoints(ckpt_dir)
    keep = {c.step for c in ckpts[-keep_last:]}
    best = best_checkpoint(ckpts, metric_key)
    if best is not None:
        keep.add(best.step)
    removed = []
    for c in ckpts:
        if c.step not in keep:
            shutil.rmtree(c.path, ignore_errors=True)
            removed.append(c.step)
    return removed


def best_checkpoint(ckpts: list[Checkpoint], metric_key: str = "selection") -> Checkpoint | None:
    """Lowest ``state.json[metric_key]`` among the given checkpoints (None if none has it)."""
    scored = []
    for c in ckpts:
        try:
            value = c.state().get(metric_key)
        except (OSError, ValueError):
            continue
        if isinstance(value, (int, float)):
            scored.append((value, c.step, c))
    return min(scored)[2] if scored else None
