"""The Trainer: exact resume, crash safety, NaN detection, early stopping, time budget, fine-tuning."""
import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY
from genforge.api import load, train
from genforge.core import checkpoint as ck
from genforge.core.errors import ConfigError, TrainingDiverged
from genforge.core.registry import TASKS
from genforge.core.runs import open_run
from genforge.training.gan import GANTask

quiet = lambda m: None  # noqa: E731


def losses_by_step(run_dir):
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "loss_d" in r:
            out[r["step"]] = (r["loss_d"], r["loss_g"], r["epoch"])
    return out


def final_tensors(run_dir, step):
    d = run_dir / "checkpoints" / str(step)
    return {f.name: load_file(str(f)) for f in sorted(d.glob("*.safetensors"))}


def test_resume_after_a_crash_is_bit_exact(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    train(out=a, steps=30, overrides=TINY, log=quiet)
    monkeypatch.setenv("GENFORGE_CRASH_AT", "before-rename@20")
    with pytest.raises(ck.CrashInjected):
        train(out=b, steps=30, overrides=TINY, log=quiet)
    monkeypatch.delenv("GENFORGE_CRASH_AT")
    assert (b / "checkpoints" / "20.tmp").exists()
    messages = []
    train(resume=b, log=messages.append)
    assert any("resuming" in m and "from step 10" in m for m in messages)
    la, lb = losses_by_step(a), losses_by_step(b)
    assert sorted(la) == list(range(1, 31)) and la == lb  # identical losses at every step, epochs crossed
    assert la[30][2] >= 2
    ta, tb = final_tensors(a, 30), final_tensors(b, 30)
    assert ta.keys() == tb.keys() and "optim-generator.safetensors" in ta
    for name in ta:
        for key in ta[name]:
            assert torch.equal(ta[name][key], tb[name][key]), (name, key)
    state_a = json.loads((a / "checkpoints/30/state.json").read_text())
    state_b = json.loads((b / "checkpoints/30/state.json").read_text())
    assert state_a["rng"] == state_b["rng"] and state_a["data"] == state_b["data"]


def test_resume_falls_back_past_a_damaged_checkpoint(tmp_path):
    run = tmp_path / "r"
    train(out=run, steps=20, overrides=TINY, log=quiet)
    f = run / "checkpoints" / "20" / "generator.safetensors"
    f.write_bytes(f.read_bytes()[:100])  # truncated
    messages = []
    train(resume=run, steps=25, log=messages.append)
    assert any("generator.safetensors" in m and "falling back" in m for m in messages)
    assert any("from step 10" in m for m in messages)
    assert ck.newest_intact(run / "checkpoints").step == 25
    assert (run / "checkpoints" / "20.corrupt" / "generator.safetensors").is_file()  # kept for inspection
    ck.verify(ck.Checkpoint(20, run / "checkpoints" / "20"))  # step 20 trained again and saved anew beside it


def test_best_checkpoint_and_pruning(tmp_path):
    run = tmp_path / "r"
    train(out=run, steps=40, overrides=TINY + ["train.keep_last=1"], log=quiet)
    r = open_run(run)
    steps = [c.step for c in r.checkpoints()]
    best = ck.best_checkpoint(r.checkpoints())
    assert 40 in steps and best.step in steps and len(steps) <= 2
    values = [json.loads(l)["eval"]["val_fjd"] for l in (run / "metrics.jsonl").read_text().splitlines() if "eval" in l]
    assert best.state()["selection"] == pytest.approx(min(values))
    assert len(list((run / "samples").glob("step-*.png"))) == 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(run / "tb"), size_guidance={"images": 0, "scalars": 0}).Reload()
    assert [e.step for e in tb.Scalars("train/loss_d")] == list(range(1, 41))
    assert [e.step for e in tb.Scalars("eval/val_fjd")] == [10, 20, 30, 40]
    assert len(tb.Images("samples")) == 4 and tb.Tags()["histograms"]


class NaNTask(GANTask):
    """A GAN whose loss turns NaN at step 13 (to test divergence handling)."""

    def train_step(self, batch, step):
        out = super().train_step(batch, step)
        if step >= 12:
            out["loss_d"] = torch.tensor(float("nan"))
        return out


def test_nan_loss_stops_with_a_clear_message_and_keeps_checkpoints(tmp_path):
    TASKS.register("nan-test")(NaNTask)
    try:
        with pytest.raises(TrainingDiverged, match=r"loss_d became nan at step 13.*Last good checkpoint: step 10"):
            train(out=tmp_path / "r", steps=30, overrides=TINY + ['train.task="nan-test"'], log=quiet)
    finally:
        TASKS.unregister("nan-test")
    assert [c.step for c in open_run(tmp_path / "r").checkpoints()] == [0, 10]  # the step-0 one and the last good one
    ck.verify(open_run(tmp_path / "r").checkpoints()[0])


def test_early_stopping(tmp_path):
    r = train(out=tmp_path / "r", steps=200, overrides=TINY + ["train.patience=1", "optim.generator.lr=1e-9", "optim.discriminator.lr=1e-9"], log=quiet)
    assert r.stopped_early and r.step < 200
    assert ck.newest_intact(tmp_path / "r" / "checkpoints").step == r.step


def test_time_budget_becomes_a_recorded_step_count(tmp_path):
    messages = []
    r = train(out=tmp_path / "r", time_budget="3s", overrides=TINY, log=messages.append)
    cfg = open_run(tmp_path / "r").config()
    assert cfg.train.time_budget == "3s" and cfg.train.steps == r.step > 1
    assert any("time budget 3s ->" in m for m in messages)
    assert any("per epoch" in m and "peak memory" in m for m in messages)


def test_init_from_copies_weights_and_checks_shapes(tmp_path):
    train(out=tmp_path / "src", steps=10, overrides=TINY, log=quiet)
    train(out=tmp_path / "ft", steps=10, init_from=str(tmp_path / "src"), overrides=TINY + ["optim.generator.lr=1e-12", "optim.discriminator.lr=1e-12"], log=quiet)
    a = load(tmp_path / "src", "latest", use_ema=False, log=quiet).net.state_dict()
    b = load(tmp_path / "ft", "latest", use_ema=False, log=quiet).net.state_dict()
    weights = [k for k in a if k.endswith("weight") and "bn" not in k and "norm" not in k]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in weights)
    with pytest.raises(ConfigError, match="does not fit this data"):
        train(out=tmp_path / "bad", steps=5, init_from=str(tmp_path / "src"), overrides=TINY + ["data.image_size=16"], log=quiet)


def test_sampling_is_seeded_and_checks_labels(tmp_path):
    train(out=tmp_path / "r", steps=10, overrides=TINY, log=quiet)
    g = load(tmp_path / "r", log=quiet)
    a, b = g.sample(6, 3, seed=5), g.sample(6, 3, seed=5)
    assert a.dtype == torch.uint8 and a.shape == (6, 1, 8, 8) and torch.equal(a, b)
    assert not torch.equal(a, g.sample(6, 3, seed=6))
    with pytest.raises(Exception, match=r"label 10 is outside the class range 0..9"):
        g.sample(2, 10)
