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


def test_migration_keeps_every_value_and_tensor(tmp_path):
    """Reading the v1 run migrates it in memory (nothing on disk changes); the loaded weights are the v1 tensors."""
    from safetensors.torch import load_file

    from genforge.api import load
    from genforge.core.runs import load_config

    run = _copy(tmp_path)
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    v1 = json.loads((run / "config.json").read_text())
    cfg = load_config(run)
    assert cfg.format_version == 2 and cfg.model.name == "cgan"
    assert cfg.model.loss == v1["gan"]["loss"] and cfg.model.ema_decay == v1["gan"]["ema_decay"]
    assert cfg.optim.network("generator").lr == v1["optim"]["lr_g"]
    assert list(cfg.optim.network("discriminator").betas) == v1["optim"]["betas"]
    gen = load(run, "10", log=lambda m: None)
    stored = load_file(str(run / "checkpoints" / "10" / "ema.safetensors"))
    assert all(np.array_equal(gen.net.state_dict()[k].numpy(), v.numpy()) for k, v in stored.items())
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before  # read-only: nothing rewritten


def test_resume_rewrites_config_in_the_new_format(tmp_path):
    run = _copy(tmp_path)
    p = run_cli("train", "--resume", str(run), "--steps", "12")
    assert p.returncode == 0, p.stderr
    raw = json.loads((run / "config.json").read_text())
    assert raw["format_version"] == 2 and "gan" not in raw and raw["optim"]["generator"]["lr"] == 2e-4
    p = run_cli("eval", str(run), "--n", "40", "--resamples", "2", "--no-cas")
    assert p.returncode == 0, p.stderr


def test_a_tampered_v1_run_is_not_migrated(tmp_path):
    """A migration must not launder a damaged run: one checkpoint that fails its own manifest stops the rewrite."""
    run = _copy(tmp_path)
    state = run / "checkpoints" / "5" / "state.json"
    state.write_text(state.read_text().replace('"step": 5', '"step":  5'))  # same meaning, different bytes
    config_before = (run / "config.json").read_bytes()
    p = run_cli("train", "--resume", str(run), "--steps", "12")
    assert p.returncode == 2 and "is a format-1 run and checkpoint 5 does not verify" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1 and (run / "config.json").read_bytes() == config_before
    assert (run / "checkpoints" / "5").is_dir()  # not quarantined either: nothing touched


def test_a_v1_config_that_cannot_migrate_is_one_line(tmp_path):
    run = _copy(tmp_path)
    raw = json.loads((run / "config.json").read_text())
    raw["gan"]["loss_typo"] = "hinge"
    (run / "config.json").write_text(json.dumps(raw))
    p = run_cli("sample", str(run), "--n", "2", "--out", str(tmp_path / "s.png"))
    assert p.returncode == 2 and "format-1 run whose migration to format 2 failed" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1
