"""Hostile flags and half-created runs: one `error:` line and exit code 2, never a traceback or exit 70."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import TINY, run_cli
from genforge import cli
from genforge.core import checkpoint as ck
from genforge.core.runs import writer_lock
from hostile import check_outcome, cli_main, make_template, make_world

SET = [a for o in TINY for a in ("--set", o)]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def run(template, tmp_path):
    return make_world(template, tmp_path)[0]


def one_error(rc: int, err: str, pattern: str) -> None:
    check_outcome(rc, err, allowed=(2,))
    assert pattern in err.strip().splitlines()[-1], err


BAD_FLAGS = {
    "sample-huge-seed": (["sample", "{run}", "--seed", str(2**70)], "--seed must be an integer from 0 to 4294967295"),
    "sample-negative-seed": (["sample", "{run}", "--seed", "-1"], "--seed must be an integer from 0"),
    "sample-huge-label": (["sample", "{run}", "--label", str(2**70)], "outside the class range"),
    "sample-negative-label": (["sample", "{run}", "--label", "-3"], "outside the class range"),
    "sample-huge-n": (["sample", "{run}", "--n", str(10**9)], "--n must be an integer from 1 to 100000"),
    "sample-float-n": (["sample", "{run}", "--n", "1e9"], "invalid int value"),
    "sample-zero-n": (["sample", "{run}", "--n", "0"], "--n must be an integer from 1"),
    "sample-out-proc": (["sample", "{run}", "--out", "/proc/x.png"], "cannot write /proc/x.png"),
    "sample-out-proc-npz": (["sample", "{run}", "--out", "/proc/x.npz"], "cannot write /proc/x.npz"),
    "sample-out-suffix": (["sample", "{run}", "--out", "{tmp}/x.jpg"], "--out must end in .png or .npz"),
    "sample-bad-checkpoint": (["sample", "{run}", "--checkpoint", "١٢"], "--checkpoint must be best, latest or a step"),
    "sample-missing-checkpoint": (["sample", "{run}", "--checkpoint", "7"], "has no checkpoint 7"),
    "sample-steps-on-gan": (["sample", "{run}", "--sample-steps", "10"], "--sample-steps does not apply to cgan"),
    "sample-unknown-sampler": (["sample", "{run}", "--sampler", "ddim"], "unknown sampler 'ddim' for cgan; valid: direct"),
    "sample-nan-truncation": (["sample", "{run}", "--truncation", "nan"], "--truncation must be a number in (0, 10]"),
    "sample-bad-interval": (["sample", "{run}", "--guidance-interval", "0.9", "0.1"], "--guidance-interval"),
    "eval-eta-on-gan": (["eval", "{run}", "--eta", "0.5"], "--eta does not apply to cgan"),
    "augment-huge-steps-flag": (["augment", "{run}", "--sample-steps", str(10**9)], "--sample-steps must be an integer from 1"),
    "eval-zero-resamples": (["eval", "{run}", "--resamples", "0"], "--resamples must be from 2"),
    "eval-huge-seed": (["eval", "{run}", "--seed", str(2**70)], "--seed must be from 0"),
    "eval-huge-n": (["eval", "{run}", "--n", str(10**7)], "--n must be between 2 and 100000"),
    "augment-huge-seed": (["augment", "{run}", "--seed", str(2**70)], "--seed must be an integer from 0"),
    "augment-one-seed": (["augment", "{run}", "--seeds", "1"], "--seeds must be an integer from 2"),
    "train-nan-budget": (["train", "--data", "digits", "--out", "{tmp}/n", "--time-budget", "nan"], "time budget must be a positive duration"),
    "train-abc-budget": (["train", "--data", "digits", "--out", "{tmp}/n", "--time-budget", "abc"], "cannot read time budget"),
    "train-inf-lr": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "optim.generator.lr=Infinity"], "finite number"),
    "train-nan-lr": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "optim.discriminator.lr=NaN"], "finite number"),
    "train-bad-betas": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "optim.generator.betas=[0.5,2]"], "optim.generator.betas.1"),
    "train-betas-shape": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "optim.generator.betas=[0.5]"], "optim.generator.betas"),
    "train-huge-seed": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", f"train.seed={2**70}"], "train.seed"),
    "train-huge-image": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "data.image_size=100000"], "less than or equal to 1024"),
    "train-huge-width": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "model.g_channels=1000000"], "less than or equal to 2048"),
    "train-bad-loss": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", 'model.loss="hingee"'], "unknown gan_loss 'hingee'"),
    "train-empty-set": (["train", "--data", "digits", "--out", "{tmp}/n", "--set", "=3"], "--set expects key.sub=value"),
    "train-out-proc": (["train", "--data", "digits", "--out", "/proc/genforge-run"], "cannot write the run directory"),
    "train-out-file": (["train", "--data", "digits", "--out", "{run}/config.json"], "not a folder"),
    "resume-z-dim": (["train", "--resume", "{run}", "--set", "model.z_dim=128"], "--resume cannot change model.z_dim"),
    "resume-loss": (["train", "--resume", "{run}", "--set", 'model.loss="bce"'], "--resume cannot change model.loss"),
    "resume-typo-loss": (["train", "--resume", "{run}", "--set", 'model.loss="hingee"'], "--resume cannot change model.loss"),
    "resume-batch": (["train", "--resume", "{run}", "--set", "train.batch_size=8"], "--resume cannot change train.batch_size"),
    "resume-lr": (["train", "--resume", "{run}", "--set", "optim.generator.lr=0.1"], "--resume cannot change optim.generator.lr"),
    "resume-data": (["train", "--resume", "{run}", "--data", "mnist"], "--resume cannot change data.name"),
    "resume-steps-below": (["train", "--resume", "{run}", "--steps", "5"], "--steps 5 is below the current step 20"),
    "resume-out": (["train", "--resume", "{run}", "--out", "{tmp}/o"], "--out cannot be used with --resume"),
    "resume-bad-budget": (["train", "--resume", "{run}", "--time-budget", "0s"], "time budget must be a positive duration"),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flag_is_one_line_exit_2(case, run, tmp_path, capsys):
    args, pattern = BAD_FLAGS[case]
    config_before = (run / "config.json").read_bytes()
    intact_before = [c.step for c in ck.partition(run / "checkpoints")[0]]
    try:
        rc, err = cli_main(*[a.format(run=run, tmp=tmp_path) for a in args], capsys=capsys)
    except SystemExit as exit_:  # argparse's own errors exit from inside parse_args
        rc, err = exit_.code, capsys.readouterr().err
    one_error(rc, err, pattern)
    assert (run / "config.json").read_bytes() == config_before
    assert [c.step for c in ck.partition(run / "checkpoints")[0]] == intact_before
    assert not (tmp_path / "n").exists()  # a refused new run leaves no folder behind


def test_argparse_errors_are_one_line_in_a_real_process(run):
    for args in (["sample", str(run), "--n", "1e9"], ["train", "--nope"], ["sample"]):
        p = run_cli(*args)
        assert p.returncode == 2 and p.stderr.startswith("error: ") and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_second_writer_is_refused_naming_the_holder(run):
    with writer_lock(run, "genforge train (test)"):
        p = run_cli("train", "--resume", str(run), "--steps", "22")
    assert p.returncode == 2, p.stderr
    line = p.stderr.strip().splitlines()[-1]
    assert "being written by another process" in line and f"pid {os.getpid()}" in line and "genforge train (test)" in line
    assert [c.step for c in ck.complete_checkpoints(run / "checkpoints")] == [0, 10, 20]


def test_lock_is_released_when_the_holder_is_killed(run):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from genforge.core.runs import writer_lock\n"
                               "with writer_lock(sys.argv[1]):\n print('held', flush=True); time.sleep(60)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert run_cli("train", "--resume", str(run), "--steps", "21").returncode == 2
    holder.kill()
    holder.wait()
    p = run_cli("train", "--resume", str(run), "--steps", "21")
    assert p.returncode == 0, p.stderr


def test_half_created_run_resumes_from_step_0(tmp_path, capsys):
    """Killed before its first checkpoint: only config.json exists. --resume starts it from step 0."""
    out = tmp_path / "r"
    rc, err = cli_main("train", "--out", str(out), "--steps", "12", *SET, capsys=capsys)
    assert rc == 0, err
    import shutil

    shutil.rmtree(out / "checkpoints")
    (out / "metrics.jsonl").unlink()
    rc, err = cli_main("train", "--out", str(out), *SET, capsys=capsys)
    one_error(rc, err, "use --resume")
    rc, err = cli_main("train", "--resume", str(out), capsys=capsys)
    assert rc == 0, err
    assert "no committed checkpoint yet; starting it from step 0" in err
    assert ck.newest_intact(out / "checkpoints").step == 12


def test_resume_refuses_and_keeps_everything_when_no_checkpoint_is_intact(run, capsys):
    for c in ck.complete_checkpoints(run / "checkpoints"):
        (c.path / "state.json").write_text("null")
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    rc, err = cli_main("train", "--resume", str(run), "--steps", "30", capsys=capsys)
    one_error(rc, err, "has no intact checkpoint")
    assert "nothing was changed or deleted" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


def test_first_checkpoint_is_written_at_step_0(tmp_path):
    """A SIGKILL right after the first checkpoint (crash point at step 0) leaves a resumable run."""
    out = tmp_path / "r"
    p = run_cli("train", "--out", str(out), "--steps", "12", *SET,
                env={"GENFORGE_CRASH_AT": "after-rename@0", "GENFORGE_CRASH_MODE": "exit"})
    assert p.returncode == 137
    assert [c.step for c in ck.complete_checkpoints(out / "checkpoints")] == [0]
    p = run_cli("train", "--resume", str(out))
    assert p.returncode == 0 and "resuming" in p.stderr and "from step 0" in p.stderr, p.stderr


def test_time_based_checkpoints(tmp_path, capsys):
    out = tmp_path / "r"
    rc, err = cli_main("train", "--out", str(out), "--steps", "13", *SET, "--set", "train.checkpoint_every=1000",
                       "--set", "train.eval_every=1000", "--set", "train.checkpoint_minutes=0.0000001", capsys=capsys)
    assert rc == 0, err
    assert len(ck.complete_checkpoints(out / "checkpoints")) == 5  # keep_last 5: one per step, pruned to the newest


def test_resume_time_budget_extends_from_the_current_step(run, capsys):
    rc, err = cli_main("train", "--resume", str(run), "--time-budget", "1s", capsys=capsys)
    assert rc == 0, err
    steps = json.loads((run / "config.json").read_text())["train"]["steps"]
    assert steps > 20 and ck.newest_intact(run / "checkpoints").step == steps


def test_internal_error_is_one_line_and_a_log(run, tmp_path, monkeypatch, capsys):
    """The last-resort handler: an unforeseen exception -> one line naming a log file with the traceback, exit 70."""
    def boom(*a, **k):
        raise ZeroDivisionError("planted bug")

    monkeypatch.setattr(cli, "cmd_sample", boom)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: _rebind(parser, boom))
    rc = cli.main(["sample", str(run)])
    err = capsys.readouterr().err
    assert rc == 70 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error (ZeroDivisionError: planted bug)" in err
    log = err.split("The traceback is in ")[1].split(";")[0]
    assert log.startswith(str(run / "logs")) and "Traceback" in open(log).read()
    rc = cli.main(["sample", str(tmp_path / "not-a-run")])  # no run: the cache folder
    err = capsys.readouterr().err
    assert rc == 70 and os.environ["GENFORGE_CACHE"] in err


def _rebind(parser, func):
    for action in parser._subparsers._group_actions:
        action.choices["sample"].set_defaults(func=func)
    return parser


def test_truncated_newest_with_keep_last_1_loses_nothing(run, capsys):
    """The issue's reproduction: truncate the newest checkpoint's EMA, resume with keep_last=1. The resume falls back
    to checkpoint 10; the corrupt 20 is kept as 20.corrupt; after the saves the run holds intact checkpoints only."""
    f = run / "checkpoints" / "20" / "ema.safetensors"
    f.write_bytes(f.read_bytes()[:100])
    rc, err = cli_main("train", "--resume", str(run), "--steps", "30", "--set", "train.keep_last=1", capsys=capsys)
    assert rc == 0, err
    assert "from step 10" in err and "20.corrupt" in err
    assert (run / "checkpoints" / "20.corrupt" / "ema.safetensors").stat().st_size == 100  # kept as it was
    intact, corrupt = ck.partition(run / "checkpoints")
    assert corrupt == [] and intact[-1].step == 30
    best = ck.best_checkpoint(intact)
    assert {c.step for c in intact} == {30, best.step}  # keep_last newest + the best, all verified
