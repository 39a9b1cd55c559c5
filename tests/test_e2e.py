"""End-to-end runs on bundled data, and the crash-safety soak (slow)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import TINY, run_cli
from genforge.core import checkpoint as ck

SET = [a for o in TINY for a in ("--set", o)]


def evals(run):
    return [json.loads(l)["eval"] for l in (run / "metrics.jsonl").read_text().splitlines() if '"eval"' in l]


def test_one_minute_cgan_on_bundled_mnist(tmp_path):
    run = tmp_path / "mnist"
    p = run_cli("train", "--data", "mnist", "--model", "cgan", "--steps", "300", "--out", str(run),
                "--set", "train.eval_every=100", "--set", "train.eval_samples=200")
    assert p.returncode == 0, p.stderr
    fjd = [e["val_fjd"] for e in evals(run)]
    assert len(fjd) == 3 and fjd[-1] < fjd[0]  # it learns: the joint distance to val falls
    out = tmp_path / "g.png"
    assert run_cli("sample", str(run), "--n", "20", "--label", "7", "--out", str(out)).returncode == 0
    img = np.asarray(Image.open(out))
    assert img.shape[0] > 100 and img.std() > 10  # a grid of 5x4 upscaled digits, not a blank page


def test_dcgan_on_an_unlabelled_rgb_folder(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "faces"
    data.mkdir()
    for i in range(120):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(data / f"{i:03d}.jpg")
    run = tmp_path / "run"
    p = run_cli("train", "--data", str(data), "--model", "dcgan", "--steps", "12", "--out", str(run),
                "--set", "data.image_size=16", *SET[2:])
    assert p.returncode == 0, p.stderr
    assert evals(run)[0].keys() >= {"val_fd"}
    out = tmp_path / "s.npz"
    assert run_cli("sample", str(run), "--n", "3", "--out", str(out)).returncode == 0
    with np.load(out) as f:
        assert f["x"].shape == (3, 16, 16, 3) and "y" not in f.files


@pytest.mark.slow
def test_sigkill_during_saves_never_loses_a_checkpoint(tmp_path):
    """Kill real training processes at random moments (many during saves); every time, resume works."""
    run = tmp_path / "r"
    args = [sys.executable, "-m", "genforge", "train", "--out", str(run), "--steps", "400", *SET,
            "--set", "train.checkpoint_every=2", "--set", "train.eval_every=4"]
    env = {**os.environ}
    rng = np.random.default_rng(0)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    kills = 0
    while kills < 12:
        time.sleep(float(rng.uniform(1.0, 4.0)))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if not (run / "config.json").exists():  # killed before the run was created: start it again
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            continue
        # a created run is always resumable: from its newest intact checkpoint, or from step 0 when none was
        # ever committed (no <step>/ directory at all); the run is never deleted and restarted
        committed = ck.complete_checkpoints(run / "checkpoints")
        latest = ck.newest_intact(run / "checkpoints", warn=lambda m: None)
        assert latest is not None or not committed, "a committed checkpoint was lost"
        proc = subprocess.Popen([sys.executable, "-m", "genforge", "train", "--resume", str(run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    proc.wait(timeout=600)
    assert kills >= 5
    final = subprocess.run([sys.executable, "-m", "genforge", "train", "--resume", str(run)], capture_output=True, text=True, env=env)
    assert final.returncode == 0, final.stderr
    assert ck.newest_intact(run / "checkpoints").step == 400
    steps = [json.loads(l).get("step") for l in (run / "metrics.jsonl").read_text().splitlines() if "loss_d" in l]
    assert steps == list(range(1, 401))  # the log was cut back to each resumed checkpoint: no gaps, no repeats


@pytest.mark.slow
def test_demo_meets_its_acceptance_targets(tmp_path):
    """The whole demo (~5 minutes on 2 cores): judge accuracy ≥ 95 %, worst-class diversity ≥ 0.70."""
    p = run_cli("demo", "--out", str(tmp_path / "demo"), timeout=1200)
    report = json.loads((tmp_path / "demo" / "eval" / "acceptance.json").read_text())
    assert report["judge"]["test_accuracy"] >= 0.97
    assert report["min_diversity_ratio"] >= 0.70
    assert report["conditional_accuracy"] >= 0.95, report["per_class_accuracy"]
    assert p.returncode == 0
