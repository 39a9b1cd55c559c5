"""End-to-end: the `genforge` command as a user types it, including every bad-input path."""
import json

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli, write_image_folder
from genforge.core.images import read_png_text

SET = [a for o in TINY for a in ("--set", o)]


def one_line_error(proc, pattern):
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.strip()
    assert err.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert len(err.splitlines()) == 1, err
    assert pattern in err, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    p = run_cli("train", "--data", "digits", "--model", "cgan", "--steps", "20", "--out", str(run), *SET)
    assert p.returncode == 0, p.stderr
    assert "trained" in p.stdout and "step 20" in p.stdout
    return run


def test_train_writes_a_complete_run(trained):
    assert (trained / "config.json").is_file() and (trained / "metrics.jsonl").is_file()
    assert (trained / "checkpoints" / "20" / "MANIFEST.json").is_file()
    assert json.loads((trained / "config.json").read_text())["format_version"] == 2


def test_sample_png_carries_provenance(trained, tmp_path):
    out = tmp_path / "grid.png"
    p = run_cli("sample", str(trained), "--n", "16", "--label", "3", "--seed", "7", "--out", str(out))
    assert p.returncode == 0, p.stderr
    text = read_png_text(out)
    assert text["genforge:seed"] == "7" and text["genforge:label"] == "3"
    assert len(text["genforge:weights-sha256"]) == 64 and text["genforge:run"] == str(trained)


def test_sample_npz(trained, tmp_path):
    out = tmp_path / "s.npz"
    assert run_cli("sample", str(trained), "--n", "5", "--out", str(out)).returncode == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["x"].shape == (5, 8, 8, 1) and f["x"].dtype == np.uint8 and f["y"].tolist() == [0, 1, 2, 3, 4]


def test_sample_to_an_image_folder_round_trips(trained, tmp_path):
    from genforge.api import load
    from genforge.data.prepare import load_images

    out = tmp_path / "synth"
    p = run_cli("sample", str(trained), "--n", "20", "--seed", "3", "--out", str(out))
    assert p.returncode == 0, p.stderr
    back = load_images(str(out))
    assert back.classes == [str(i) for i in range(10)] and torch.bincount(back.y).tolist() == [2] * 10
    images = load(trained, log=lambda m: None).sample(20, None, 3)
    by_file = {i: back.x[k] for k, i in enumerate(int(name.rsplit("/", 1)[-1][:6]) for name in back.ids)}
    assert all(torch.equal(by_file[i], images[i]) for i in range(20))  # lossless PNGs, right class folder
    assert read_png_text(out / "3" / "000003.png")["genforge:seed"] == "3"
    p = run_cli("sample", str(trained), "--n", "2", "--out", str(out))
    assert p.returncode == 2 and "already exists" in p.stderr


def test_runs_lists_the_run(trained):
    p = run_cli("runs", str(trained.parent), "--json")
    rows = json.loads(p.stdout)
    assert rows[0]["name"] == "run" and rows[0]["step"] == 20 and rows[0]["best"]["metric"] == "val_fjd"
    table = run_cli("runs", str(trained.parent)).stdout
    assert "run" in table and "cgan" in table


def test_data_inspect(tmp_path):
    write_image_folder(tmp_path, ("x", "y"), per_class=3)
    p = run_cli("data", "inspect", str(tmp_path))
    assert p.returncode == 0 and "6 images" in p.stdout and "broken files: 0" in p.stdout


def test_help_explains():
    p = run_cli("train", "--help")
    assert p.returncode == 0 and "--time-budget" in p.stdout and "--resume" in p.stdout


def test_label_outside_range(trained, tmp_path):
    one_line_error(run_cli("sample", str(trained), "--label", "12", "--out", str(tmp_path / "a.png")),
                   "label 12 is outside the class range 0..9")


def test_unknown_model_and_key(tmp_path):
    one_line_error(run_cli("train", "--data", "digits", "--model", "cgam", "--out", str(tmp_path / "r")),
                   "unknown model 'cgam' (did you mean 'cgan'?)")
    one_line_error(run_cli("train", "--data", "digits", "--set", "optim.lrg=1", "--out", str(tmp_path / "r")),
                   "unknown config key 'optim.lrg'")
    assert not (tmp_path / "r").exists()


def test_bad_data_paths(tmp_path):
    one_line_error(run_cli("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r1")), "neither a built-in name")
    (tmp_path / "empty").mkdir()
    one_line_error(run_cli("train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r2")), "no class subfolders")
    folder = write_image_folder(tmp_path / "imgs", ("a", "b"), per_class=4)
    (folder / "a" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    one_line_error(run_cli("train", "--data", str(folder), "--out", str(tmp_path / "r3"), *SET[2:]),
                   "bad.png is not a readable image")


def test_cgan_on_unlabelled_data(tmp_path):
    from PIL import Image

    for i in range(4):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(tmp_path / f"{i}.png")
    one_line_error(run_cli("train", "--data", str(tmp_path), "--model", "cgan", "--out", str(tmp_path.parent / "r-unl")),
                   "needs class labels")
    assert not (tmp_path.parent / "r-unl").exists()  # nothing written for a run that cannot start


def test_read_only_run_directory(tmp_path):
    # /proc is read-only even for root, unlike a chmod-ed folder
    one_line_error(run_cli("train", "--data", "digits", "--out", "/proc/genforge-run"), "cannot write the run directory")


def test_newer_format_version(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["format_version"] = 99
    (copy / "config.json").write_text(json.dumps(cfg))
    one_line_error(run_cli("sample", str(copy), "--out", str(tmp_path / "a.png")), "newer genforge")


def test_resume_on_altered_checkpoint_says_so(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    f = copy / "checkpoints" / "20" / "ema.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    p = run_cli("train", "--resume", str(copy), "--steps", "25")
    assert p.returncode == 0, p.stderr
    assert "ema.safetensors does not match its SHA-256" in p.stderr and "from step 10" in p.stderr


def test_existing_run_is_not_overwritten(trained):
    one_line_error(run_cli("train", "--data", "digits", "--out", str(trained)), "already holds a run")


def test_sample_without_checkpoint(tmp_path):
    from genforge.core.config import build_config
    from genforge.core.runs import create_run

    create_run(tmp_path / "r", build_config())
    one_line_error(run_cli("sample", str(tmp_path / "r"), "--out", str(tmp_path / "a.png")), "has no checkpoint yet")
