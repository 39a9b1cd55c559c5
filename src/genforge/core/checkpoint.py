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
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genforge.core.errors import CheckpointError
from genforge.core.integrity import (  # noqa: F401  (re-exported: callers use ck.verify, ck.Checkpoint, ...)
    MANIFEST, STATE, Checkpoint, finite_number, sha256_file, verify,
)
from genforge.core.integrity import MAX_STATE_BYTES, _json_object

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


def save_checkpoint(
    ckpt_dir: Path,
    step: int,
    nets: dict[str, dict[str, torch.Tensor]],
    optimizers: dict[str, torch.optim.Optimizer],
    state: dict[str, Any],
    extra_json: dict[str, Any] | None = None,
) -> Checkpoint:
    """Write a complete checkpoint for ``step`` and commit it by one rename.

    A committed ``<step>/`` is never replaced: the Trainer never saves a step twice (resume starts
    after the newest intact checkpoint, and newer corrupt ones are quarantined first), so an
    existing one here is a bug, refused before anything is written.
    """
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    final = ckpt_dir / str(step)
    tmp = ckpt_dir / f"{step}.tmp"
    if os.path.lexists(final):
        raise CheckpointError(f"{final} already exists; refusing to overwrite a committed checkpoint")
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
        write_json(tmp / MANIFEST, {"step": step, "files": {f: sha256_file(tmp / f) for f in files},
                                    "sizes": {f: (tmp / f).stat().st_size for f in files}})
        crash_point("after-manifest", step)
        for p in tmp.iterdir():
            _fsync_path(p)
        _fsync_path(tmp)
        crash_point("before-rename", step)
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
    """Committed checkpoints (directories named by an integer step), oldest first. Not yet verified."""
    if not ckpt_dir.is_dir():
        return []
    found = [Checkpoint(int(p.name), p) for p in ckpt_dir.iterdir()
             if p.name.isdigit() and p.name.isascii() and p.is_dir() and not p.is_symlink()]
    return sorted(found, key=lambda c: c.step)


def quarantined(ckpt_dir: Path) -> list[Path]:
    """Checkpoints renamed ``<step>.corrupt*`` (kept for inspection, never counted)."""
    if not ckpt_dir.is_dir():
        return []
    return sorted(p for p in ckpt_dir.iterdir() if ".corrupt" in p.name)


def clean_stale(ckpt_dir: Path) -> list[str]:
    """Remove ``*.tmp`` leftovers of an interrupted save; returns their names."""
    removed = []
    if ckpt_dir.is_dir():
        for p in ckpt_dir.iterdir():
            if p.name.endswith(".tmp") and p.name[:-4].isdigit():
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
                removed.append(p.name)
    return removed


def load_tensors(ckpt: Checkpoint, name: str) -> dict[str, torch.Tensor]:
    """A verified checkpoint's tensors; a file that is not valid safetensors is a CheckpointError."""
    path = ckpt.path / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{path} is missing")
    try:
        return load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"{path} is not a readable safetensors file ({str(err).splitlines()[0][:200]})") from None


def load_optimizer(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> None:
    tensors = load_tensors(ckpt, f"optim-{name}")
    meta = _json_object(ckpt.path / f"optim-{name}.json", MAX_STATE_BYTES)
    try:
        unflatten_optimizer(opt, tensors, meta)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as err:
        raise CheckpointError(f"{ckpt.path / f'optim-{name}.json'} does not fit this run's {name} optimizer "
                              f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})") from None


def quarantine(ckpt: Checkpoint, reason: str, warn=print) -> Path:
    """Rename a corrupt checkpoint to ``<step>.corrupt`` (``.corrupt-2``, ... if taken): kept, never counted."""
    target = ckpt.path.with_name(f"{ckpt.step}.corrupt")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = ckpt.path.with_name(f"{ckpt.step}.corrupt-{n}")
    os.rename(ckpt.path, target)
    _fsync_path(ckpt.path.parent)
    warn(f"warning: checkpoint {ckpt.step} is corrupt ({reason}); kept as {target} and no longer used")
    return target


def partition(ckpt_dir: Path) -> tuple[list[Checkpoint], list[tuple[Checkpoint, str]]]:
    """(intact checkpoints oldest first, [(corrupt checkpoint, reason)])."""
    intact, corrupt = [], []
    for c in complete_checkpoints(ckpt_dir):
        try:
            verify(c)
            intact.append(c)
        except CheckpointError as err:
            corrupt.append((c, str(err)))
    return intact, corrupt


def newest_intact(ckpt_dir: Path, warn=print) -> Checkpoint | None:
    """The newest checkpoint that verifies; each skipped one is reported through ``warn``."""
    for ckpt in reversed(complete_checkpoints(ckpt_dir)):
        try:
            verify(ckpt)
            return ckpt
        except CheckpointError as err:
            warn(f"warning: {err}; falling back to an earlier checkpoint")
    return None


def prune(ckpt_dir: Path, keep_last: int, warn=print) -> list[int]:
    """Keep the ``keep_last`` newest intact checkpoints and the best intact one; delete the other intact ones.

    Only verified checkpoints are ranked or deleted. A corrupt one is quarantined (renamed
    ``<step>.corrupt``), never counted and never deleted. Called by the run's single writer only.
    """
    intact, corrupt = partition(ckpt_dir)
    for c, reason in corrupt:
        quarantine(c, reason, warn)
    keep = {c.step for c in intact[-keep_last:]}
    best = best_checkpoint(intact)
    if best is not None:
        keep.add(best.step)
    removed = []
    for c in intact:
        if c.step not in keep:
            shutil.rmtree(c.path)
            removed.append(c.step)
    return removed


def best_checkpoint(ckpts: list[Checkpoint], metric_key: str = "selection") -> Checkpoint | None:
    """Best finite ``state.json[metric_key]`` among the given (verified) checkpoints; None if none has one.

    The direction is the one the run's selection metric declared, recorded in each state as
    ``selection_direction`` ("lower" when absent, as in format-1 runs). NaN, ±inf and non-numbers are
    never best. Ties go to the newer checkpoint.
    """
    scored = []
    for c in ckpts:
        try:
            state = c.state()
        except CheckpointError:
            continue
        value = finite_number(state.get(metric_key))
        if value is not None:
            sign = -1.0 if state.get("selection_direction") == "higher" else 1.0
            scored.append((sign * value, -c.step, c))
    return min(scored, key=lambda t: t[:2])[2] if scored else None
