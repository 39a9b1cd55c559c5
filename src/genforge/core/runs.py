"""The run directory: the unit of truth (see docs/run-format.md)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core import checkpoint as ck
from genforge.core.config import RunConfig, config_to_json, migrate, parse_config
from genforge.core.errors import CheckpointError, GenforgeError

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

    def select_checkpoint(self, which: str = "best", warn=print) -> ck.Checkpoint:
        """'best' (lowest selection metric), 'latest', or a step number; verified before use."""
        ckpts = self.checkpoints()
        if not ckpts:
            raise CheckpointError(f"run {self.path} has no checkpoint yet; train it first")
        if which == "latest":
            chosen = ckpts[-1]
        elif which == "best":
            chosen = ck.best_checkpoint(ckpts) or ckpts[-1]
        elif which.isdigit():
            matches = [c for c in ckpts if c.step == int(which)]
            if not matches:
                steps = ", ".join(str(c.step) for c in ckpts)
                raise CheckpointError(f"run {self.path} has no checkpoint {which} (has: {steps})")
            chosen = matches[0]
        else:
            raise GenforgeError(f"--checkpoint must be best, latest or a step number, got '{which}'")
        try:
            ck.verify(chosen)
            return chosen
        except CheckpointError as err:
            fallback = ck.newest_intact(self.checkpoints_dir, warn=lambda m: None)
            if fallback is None:
                raise
            warn(f"warning: {err}; using checkpoint {fallback.step} instead")
            return fallback

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
    if (Path(path) / CONFIG).exists():
        raise GenforgeError(f"{path} already holds a run; use --resume {path} to continue it, or another --out")


def create_run(path: Path, cfg: RunConfig, overwrite: bool = False) -> Run:
    path = Path(path)
    if not overwrite:
        ensure_new_run(path)
    _check_writable(path)
    ck.atomic_write_text(path / CONFIG, config_to_json(cfg))
    return Run(path)


def load_config(path: Path) -> RunConfig:
    cfg_path = Path(path) / CONFIG
    if not cfg_path.is_file():
        raise GenforgeError(f"{path} is not a genforge run (no {CONFIG}); pass a run directory")
    try:
        raw = json.loads(cfg_path.read_text())
    except ValueError as err:
        raise GenforgeError(f"{cfg_path} is not valid JSON ({err})") from None
    return parse_config(migrate(raw, str(cfg_path)))


def open_run(path: str | Path) -> Run:
    run = Run(Path(path))
    load_config(run.path)  # validates format version and keys
    return run


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:
                pass
    return total


def list_runs(root: Path) -> list[dict[str, Any]]:
    """Summaries of the runs directly under ``root`` (unreadable ones are reported, not fatal)."""
    rows = []
    if not root.is_dir():
        return rows
    for p in sorted(root.iterdir()):
        if not (p / CONFIG).is_file():
            continue
        row: dict[str, Any] = {"name": p.name, "path": str(p), "size_bytes": dir_size(p)}
        try:
            cfg = load_config(p)
            row.update(model=cfg.model.name, data=cfg.data.name)
        except GenforgeError as err:
            row["error"] = str(err)
        ckpts = ck.complete_checkpoints(p / "checkpoints")
        row["step"] = ckpts[-1].step if ckpts else 0
        best = ck.best_checkpoint(ckpts)
        if best is not None:
            state = best.state()
            row["best"] = {"step": best.step, "metric": state.get("selection_metric"), "value": state.get("selection")}
        rows.append(row)
    return rows
