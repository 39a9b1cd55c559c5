"""The committed version-1 run (written by the release of 2026-11-28, before the hardening work) must keep
verifying, sampling and resuming. Never regenerate tests/fixtures/run-v1: it stands for runs users already have."""
import json
import shutil
from pathlib import Path

import numpy as np

from conftest import run_cli
from genforge.core import checkpoint as ck

FIXTURE = Path(__file__).parent / "fixtures" / "run-v1"


def _copy(tmp_path: Path) -> Path:
    run = tmp_path / "run-v1"
    shutil.copytree(FIXTURE, run)
    return run


def test_fixture_is_version_1_and_verifies():
    assert json.loads((FIXTURE / "config.json").read_text())["format_version"] == 1
    steps = [c.step for c in ck.complete_checkpoints(FIXTURE / "checkpoints")]
    assert steps == [5, 10]
    for c in ck.complete_checkpoints(FIXTURE / "checkpoints"):
        ck.verify(c)


def test_fixture_samples(tmp_path):
    run = _copy(tmp_path)
    out = tmp_path / "s.npz"
    p = run_cli("sample", str(run), "--n", "6", "--label", "3", "--out", str(out))
    assert p.returncode == 0, p.stderr
    with np.load(out) as f:
        assert f["x"].shape == (6, 8, 8, 1) and f["x"].std() > 0 and (f["y"] == 3).all()


def test_fixture_resumes(tmp_path):
    run = _copy(tmp_path)
    p = run_cli("train", "--resume", str(run), "--steps", "14")
    assert p.returncode == 0, p.stderr
    assert ck.newest_intact(run / "checkpoints").step == 14
    assert 5 in [c.step for c in ck.complete_checkpoints(run / "checkpoints")]  # the best (val_fjd at 5) is kept
