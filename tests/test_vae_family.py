"""The vae and cvae families through the public API: train, resume bit-exactly, load, sample, reconstruct,
and their selection metric (val_elbo) and membership score. Networks and loss math: tests/test_vae.py."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli
from genforge.api import load, train
from genforge.core import checkpoint as ck
from genforge.core.errors import ConfigError, GenforgeError
from genforge.core.registry import MODELS, SELECTION_METRICS
from genforge.data.imageset import DataInfo
from genforge.data.prepare import prepare
from genforge.data.transforms import to_unit
from genforge.models.vae import interpolate, reconstruct
from genforge.training.vae import elbo_membership

OVERRIDES = [
    'data.name="digits"', "data.max_items=200", "train.batch_size=16", "train.eval_every=10",
    "train.checkpoint_every=10", "train.eval_samples=64", "train.keep_last=5", "train.log_every=1",
    'model.name="cvae"', "model.width=8", "model.z_dim=8", "train.threads=1",
    'optim.schedule="constant"',  # the 17-step run must share the 30-step run's learning rates
]
quiet = lambda m: None  # noqa: E731


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    before = torch.get_num_threads()  # train.threads=1 sets the process-wide count
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    run = tmp_path_factory.mktemp("vae") / "full"
    result = train(out=run, steps=30, overrides=OVERRIDES, log=quiet)
    assert result.metric == "val_elbo" and result.step == 30
    return run


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _losses(run):
    return [(r["step"], r["loss"], r["elbo"], r["kl"]) for r in _records(run) if "loss" in r]


def _pair(run, checkpoint="best"):
    """The run's encoder and decoder from one verified checkpoint, through the family's declaration."""
    gen = load(run, checkpoint, log=quiet)
    nets = MODELS.get(gen.config.model.name).build(gen.config.model, gen.info)
    for name, net in nets.items():
        net.load_state_dict(ck.load_tensors(gen.checkpoint, name))
        net.eval()
    return gen, nets["encoder"], nets["decoder"]


def test_training_raises_the_elbo_keeps_kl_nonnegative_and_selects_higher(full):
    steps = [r for r in _records(full) if "elbo" in r]
    assert len(steps) == 30 and {"elbo", "recon", "kl", "kl_weight", "bpd"} <= steps[0].keys()
    assert all(r["kl"] >= 0 for r in steps)
    assert all(math.isclose(r["elbo"], -(r["recon"] + r["kl"]), rel_tol=1e-4) for r in steps)
    assert steps[0]["kl_weight"] == 0 and steps[-1]["kl_weight"] > steps[1]["kl_weight"]  # linear warm-up
    assert np.mean([r["elbo"] for r in steps[-5:]]) > np.mean([r["elbo"] for r in steps[:5]]) + 100
    evals = [r["eval"]["val_elbo"] for r in _records(full) if "eval" in r]
    assert len(evals) == 3 and evals[-1] > evals[0]
    best = ck.best_checkpoint(ck.partition(full / "checkpoints")[0])
    state = best.state()
    assert state["selection_direction"] == "higher" and state["selection"] == max(evals)
    assert not (best.path / "ema.safetensors").exists()  # no EMA copy: the decoder itself samples


def test_resume_is_bit_exact(full, tmp_path):
    cut = tmp_path / "cut"
    train(out=cut, steps=17, overrides=OVERRIDES, log=quiet)  # crosses an epoch (~10 steps), evals and checkpoints
    train(resume=cut, steps=30, log=quiet)
    assert _losses(cut) == _losses(full)


def test_load_samples_with_labels_deterministically(full):
    gen = load(full, log=quiet)
    assert gen.conditional and set(gen.net.state_dict()) >= {"fc.weight", "embed.weight"}
    a = gen.sample(6, label=[0, 1, 2, 3, 4, 5], seed=3)
    assert a.shape == (6, 1, 8, 8) and a.dtype == torch.uint8
    assert torch.equal(a, gen.sample(6, label=[0, 1, 2, 3, 4, 5], seed=3))
    assert not torch.equal(a, gen.sample(6, label=[0, 1, 2, 3, 4, 5], seed=4))
    assert torch.equal(gen.sample(1, label=[2], seed=3, indices=[2]), a[2:3])  # one sample regenerated alone


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run long enough to reconstruct: 120 steps at lr 3e-3 on 400 digits (~2 s)."""
    run = tmp_path_factory.mktemp("vae") / "trained"
    more = ["data.max_items=400", "train.eval_every=60", "optim.encoder.lr=3e-3", "optim.decoder.lr=3e-3"]
    train(out=run, steps=120, overrides=[o for o in OVERRIDES if "max_items" not in o and "eval_every" not in o] + more,
          log=quiet)
    return run


def test_reconstructions_beat_the_mean_image_on_held_out_digits(trained):
    gen, enc, dec = _pair(trained)
    data = prepare(gen.config.data, warn=quiet)
    x, y = to_unit(data.test.x), data.test.y
    x_hat = reconstruct(enc, dec, x, y)
    assert x_hat.shape == x.shape and x_hat.abs().max() <= 1
    mse = (x_hat - x).pow(2).mean()
    mse_mean_image = (to_unit(data.train.x).mean(0, keepdim=True) - x).pow(2).mean()
    assert mse < 0.6 * mse_mean_image, (float(mse), float(mse_mean_image))  # observed 0.37×
    # the latent path between two codes starts and ends at their decodings
    mu, _ = enc(x[:2], y[:2])
    path = interpolate(dec, mu[0], mu[1], y[0], steps=5)
    assert path.shape == (5, 1, 8, 8)
    assert torch.allclose(path[0], dec(mu[:1], y[:1])[0], atol=1e-5)
    assert torch.allclose(path[-1], dec(mu[1:2], y[:1])[0], atol=1e-5)


def test_val_elbo_is_seeded_counts_active_units_and_never_hides_nan(full):
    gen, enc, dec = _pair(full)
    data = prepare(gen.config.data, warn=quiet)
    metric_cls = SELECTION_METRICS.get("val_elbo")
    assert metric_cls.higher_is_better
    logged = []
    metric = metric_cls(data, 40, seed=7, log=logged.append)
    assert len(metric.x) == min(40, len(data.val)) and len(set(metric.y.tolist())) >= 5  # a seeded subset of val
    nets = {"encoder": enc, "decoder": dec}
    value = metric(None, nets)
    assert math.isfinite(value) and value == metric(None, nets)  # the same noise at every evaluation
    assert 0 <= metric.last_extra["active_units"] <= 8 and metric.last_extra["bpd"] > 0
    with torch.no_grad():
        dec.fc.bias.fill_(float("nan"))
    assert metric(None, nets) == -math.inf and "non-finite" in logged[-1]
    with pytest.raises(ConfigError, match="needs a model with an encoder and a decoder"):
        metric(None, {"denoiser": dec})


def test_membership_is_the_elbo_per_image(full):
    gen, enc, dec = _pair(full)
    data = prepare(gen.config.data, warn=quiet)
    x, y = to_unit(data.train.x[:20]), data.train.y[:20]
    nets = {"encoder": enc, "decoder": dec}
    score = elbo_membership(nets, x, y, torch.Generator().manual_seed(0))
    assert score.shape == (20,) and torch.isfinite(score).all()
    assert torch.equal(score, elbo_membership(nets, x, y, torch.Generator().manual_seed(0)))
    assert MODELS.get("cvae").membership is elbo_membership and MODELS.get("vae").membership is elbo_membership


def test_cvae_on_unlabelled_data_is_a_clear_config_error(tmp_path):
    data = tmp_path / "plain.npz"
    np.savez(data, x=np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8))  # no 'y'
    overrides = [o for o in OVERRIDES if not o.startswith("data.name")] + [f'data.name="{data}"']
    with pytest.raises(ConfigError, match="needs class labels"):
        train(out=tmp_path / "r", steps=2, overrides=overrides, log=quiet)
    assert not (tmp_path / "r").exists()
    # the family's own check says what to use instead
    spec = MODELS.get("cvae")
    plain = DataInfo(1, 8, 0, (), (0.5,), (0.25,), "h", "p", 40, 0, 0)
    with pytest.raises(ConfigError, match="cvae needs class labels .* use --model vae"):
        spec.build(spec.config(name="cvae"), plain)
    # while the unconditional family trains on it
    overrides = [o for o in overrides if not o.startswith("model.name")] + ['model.name="vae"']
    assert train(out=tmp_path / "v", steps=2, overrides=overrides, log=quiet).step == 2


def test_reconstruct_command_writes_inputs_above_reconstructions(trained, tmp_path):
    from PIL import Image

    out = tmp_path / "rec.png"
    p = run_cli("reconstruct", str(trained), "--n", "12", "--out", str(out))
    assert p.returncode == 0, p.stderr
    img = Image.open(out)
    # 12 images in rows of 10: input row, reconstruction row, input row (2), reconstruction row (2) -> 4 rows
    assert img.height > img.width * 0.3 and "genforge:rows" in img.text and "reconstructions" in img.text["genforge:rows"]


def test_reconstruct_refuses_a_family_without_an_encoder(tmp_path):
    from genforge.api import reconstruct

    gan = tmp_path / "gan"
    train(out=gan, steps=2, overrides=[o for o in TINY] + ["train.eval_every=2", "train.checkpoint_every=2"], log=lambda m: None)
    with pytest.raises(GenforgeError, match="cgan has no encoder, so it cannot reconstruct images"):
        reconstruct(gan, 4, tmp_path / "r.png", log=lambda m: None)
