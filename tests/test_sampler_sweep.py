"""`genforge eval --sampler-sweep`: every sampler of the family at several step counts, KID with a CI per point."""
from __future__ import annotations

import json

import pytest

from conftest import TINY, run_cli
from genforge.api import train

DIFFUSION = ['optim.schedule="constant"', 'data.name="digits"', "data.max_items=200", "train.batch_size=16",
             "train.eval_every=10", "train.checkpoint_every=10", "train.eval_samples=32", 'model.name="diffusion"',
             "model.width=8", "model.mults=[1,2]", "model.timesteps=50"]


@pytest.fixture(scope="module")
def diffusion_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("sweep") / "diff"
    train(out=run, steps=10, overrides=DIFFUSION, log=lambda m: None)
    return run


def test_sweep_writes_every_sampler_and_step_with_a_ci(diffusion_run):
    p = run_cli("eval", str(diffusion_run), "--n", "40", "--resamples", "2", "--no-cas", "--sampler-sweep",
                "--sweep-steps", "2", "4", "--sweep-n", "24")
    assert p.returncode == 0, p.stderr
    rows = json.loads((diffusion_run / "eval" / "metrics.json").read_text())["sampler_sweep"]
    assert {(r["sampler"], r["sample_steps"]) for r in rows} == {(s, k) for s in ("ddim", "ddpm", "dpmpp-2m", "dpmpp-2m-sde") for k in (2, 4)}
    for r in rows:
        assert r["n_generated"] == 24 and r["ci95"][0] <= r["ci95"][1] and r["img_per_s"] > 0
    assert "Sampler sweep" in (diffusion_run / "eval" / "report.html").read_text()


def test_sweep_steps_beyond_the_schedule_and_families_without_steps(diffusion_run, tmp_path):
    p = run_cli("eval", str(diffusion_run), "--sampler-sweep", "--sweep-steps", "500")
    assert p.returncode == 2 and "no sweep point fits a schedule of 50 steps" in p.stderr, p.stderr
    gan = tmp_path / "gan"
    train(out=gan, steps=2, overrides=TINY + ["train.eval_every=2", "train.checkpoint_every=2"], log=lambda m: None)
    p = run_cli("eval", str(gan), "--sampler-sweep")
    assert p.returncode == 2 and "--sampler-sweep needs a family whose samplers take steps" in p.stderr, p.stderr
    assert p.stderr.count("\n") == 1
