"""The run directory: the unit of truth (see docs/run-format.md)."""
from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core import checkpoint as ck
from genforge.core.config import (FORMAT_VERSION, RunConfig, check_complete, config_to_json, migrate, parse_config,
                                  stored_version)
from genforge.core.errors import CheckpointError, ConfigError, GenforgeError
from genforge.core.jsonfile import read_json_object

CONFIG = "config.json"
METRICS = "metrics.jsonl"


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    def config(self) -> RunConfig:
        return load_config(self.path)

    def checkpoints(self) -> list[ck.Checkpoint]:
        return ck.complete_checkpoints(self.checkpoints_dir)

    def candidates(self, which: str = "best", warn=print) -> list[ck.Checkpoint]:
        """Verified checkpoints to use, preferred first: 'best' (by the selection metric), 'latest', or a step.

        For 'best' and 'latest' the other intact checkpoints follow, newest first, so a caller whose
        load of the first one fails (weights that verify but do not fit) can fall back. Corrupt
        checkpoints are reported through ``warn`` and skipped; a read-only caller never renames them.
        """
        if which not in ("best", "latest") and not (which.isascii() and which.isdigit()):
            raise GenforgeError(f"--checkpoint must be best, latest or a step number, got '{which}'")
        ckpts = self.checkpoints()
        if not ckpts:
            raise CheckpointError(f"run {self.path} has no checkpoint yet; train it first")
        if which not in ("best", "latest"):
            matches = [c for c in ckpts if c.step == int(which)]
            if not matches:
                steps = ", ".join(str(c.step) for c in ckpts)
                raise CheckpointError(f"run {self.path} has no checkpoint {which} (has: {steps})")
            ck.verify(matches[0])  # an explicitly chosen checkpoint is used as it is, or refused
            return matches
        intact, corrupt = ck.partition(self.checkpoints_dir)
        for _, reason in corrupt:
            warn(f"warning: {reason}; that checkpoint is skipped")
        if not intact:
            raise CheckpointError(f"no checkpoint of {self.path} is intact ({len(corrupt)} corrupt, see the warnings); "
                                  "nothing was changed")
        newest_first = list(reversed(intact))
        first = ck.best_checkpoint(intact) if which == "best" else None
        first = first or newest_first[0]
        return [first] + [c for c in newest_first if c is not first]

    def select_checkpoint(self, which: str = "best", warn=print) -> ck.Checkpoint:
        """The preferred verified checkpoint (see ``candidates``)."""
        return self.candidates(which, warn)[0]

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.path / METRICS, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:  # a line cut short by a crash
                continue
        return out

    def truncate_metrics(self, step: int) -> None:
        """Drop records logged after ``step`` (work lost by a crash that resume will redo)."""
        path = self.path / METRICS
        if path.exists():
            kept = [r for r in self.read_metrics() if r.get("step", 0) <= step]
            ck.atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))


MAX_CONFIG_BYTES = 1 << 20
LOCK = "train.lock"


def _check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise GenforgeError(
            f"cannot write the run directory {path} ({err.strerror or err}); choose another --out"
        ) from None


def ensure_new_run(path: Path) -> None:
    """A new run's folder must not hold a run, and must be creatable: checked without creating it."""
    path = Path(path)
    if (path / CONFIG).exists():
        raise GenforgeError(f"{path} already holds a run; use --resume {path} to continue it, or another --out")
    if path.exists() and not path.is_dir():
        raise GenforgeError(f"{path} exists and is not a folder; choose another --out")
    parent = path.absolute()
    while not parent.exists():
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".genforge-probe-", dir=parent))
    except OSError as err:
        raise GenforgeError(f"cannot write the run directory {path} ({err.strerror or err}); choose another --out") from None


def create_run(path: Path, cfg: RunConfig) -> Run:
    """Write config.json into a new run folder (the caller holds the run's lock)."""
    path = Path(path)
    ensure_new_run(path)
    _check_writable(path)
    ck.atomic_write_text(path / CONFIG, config_to_json(cfg))
    return Run(path)


def load_config(path: Path) -> RunConfig:
    cfg_path = Path(path) / CONFIG
    if not cfg_path.is_file():
        raise GenforgeError(f"{path} is not a genforge run (no {CONFIG}); pass a run directory")
    stored = read_json_object(cfg_path, MAX_CONFIG_BYTES)
    version = stored_version(stored, str(cfg_path))
    if version == FORMAT_VERSION:
        check_complete(stored, str(cfg_path))
        return parse_config(stored)
    try:  # an older run: migrated in memory; only `--resume` (the writer) rewrites config.json, see migrate_run
        raw = migrate(stored, str(cfg_path))
        check_complete(raw, str(cfg_path))
        return parse_config(raw)
    except ConfigError as err:
        raise ConfigError(f"{cfg_path} is a format-{version} run whose migration to format {FORMAT_VERSION} failed: "
                          f"{err}. The run is unchanged; use a genforge version that wrote it") from None


def stored_format(path: Path) -> int:
    """The format version config.json was written in (older ones are migrated in memory when read)."""
    cfg_path = Path(path) / CONFIG
    return stored_version(read_json_object(cfg_path, MAX_CONFIG_BYTES), str(cfg_path))


def check_migratable(run: Run) -> None:
    """Before an older run's config.json is rewritten in the current format (on ``--resume``): every committed
    checkpoint must verify against its own manifest, so a migration never launders a damaged or edited run.
    Nothing else is rewritten: checkpoint files keep their names and tensors in every format so far."""
    version = stored_format(run.path)
    if version == FORMAT_VERSION:
        return
    _, corrupt = ck.partition(run.checkpoints_dir)
    if corrupt:
        ckpt, reason = corrupt[0]
        raise GenforgeError(f"{run.path} is a format-{version} run and checkpoint {ckpt.step} does not verify against its "
                            f"own manifest ({reason}); it is not migrated to format {FORMAT_VERSION} (a migration must not "
                            "launder a damaged or edited run). Sample from it read-only, or move the damaged checkpoint away")


def open_run(path: str | Path) -> Run:
    run = Run(Path(path))
    load_config(run.path)  # validates format version and keys
    return run


@contextmanager
def writer_lock(path: Path, command: str = "genforge train") -> Iterator[None]:
    """Hold the run's single-writer lock (flock on RUN/train.lock: released by the OS if the process dies).

    A second writer gets a GenforgeError naming the holder (pid, host, command, since when).
    """
    path = Path(path)
    _check_writable(path)
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "unknown process"
        os.close(fd)
        raise GenforgeError(f"{path} is being written by another process ({holder}); wait for it to finish, "
                            "or stop it, then try again") from None
    try:
        info = f"pid {os.getpid()} on {socket.gethostname()}, {command}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(), 0)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def _run_row(p: Path) -> dict[str, Any]:
    row: dict[str, Any] = {"name": p.name, "path": str(p), "size_bytes": dir_size(p), "step": 0}
    errors = []
    try:
        cfg = load_config(p)
        row.update(model=cfg.model.name, data=cfg.data.name)
    except GenforgeError as err:
        errors.append(str(err))
    intact, corrupt = ck.partition(p / "checkpoints")
    row["step"] = intact[-1].step if intact else 0
    row["corrupt_checkpoints"] = [c.step for c, _ in corrupt]
    if corrupt:
        errors.append(f"{len(corrupt)} corrupt checkpoint(s): {corrupt[0][1]}")
    best = ck.best_checkpoint(intact)
    if best is not None:
        state = best.state()
        metric = state.get("selection_metric")
        row["best"] = {"step": best.step, "metric": metric if isinstance(metric, str) else "?",
                       "value": ck.finite_number(state.get("selection"))}
    if errors:
        row["error"] = "; ".join(errors)
    return row


def list_runs(root: Path) -> list[dict[str, Any]]:
    """One row per run directly under ``root``; a broken run gets its error in its own row, never fails the list."""
    if not root.is_dir():
        return []
    rows = []
    for p in sorted(root.iterdir()):
        if p.is_symlink() or not p.is_dir() or not (p / CONFIG).exists():
            continue
        try:
            rows.append(_run_row(p))
        except Exception as err:  # a run broken in a way nobody foresaw still gets its row  # noqa: BLE001
            rows.append({"name": p.name, "path": str(p), "size_bytes": 0, "step": 0,
                         "error": f"unreadable run ({type(err).__name__}: {str(err)[:160]})"})
    return rows
