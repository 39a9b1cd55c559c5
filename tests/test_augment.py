"""`genforge augment`: the lift computation, its CI, the leak guard and the written samples."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli, train_on_npz, write_npz
from scipy.stats import t as student_t

from genforge.api import augment_run, train
from genforge.augment.leak import Ancestor, leak_problem
from genforge.augment.downstream import ImageDownstream, Recipe
from genforge.augment.lift import labelled, measure_arms, seeds_ci
from genforge.augment.test_reads import TestReads
from genforge.core.config import DataConfig
from genforge.core.errors import GenforgeError
from genforge.data.imageset import ImageSet
from genforge.data.prepare import load_images, prepare
from genforge.evaluation.cas import CAS
from genforge.evaluation.evaluate import labels_like

quiet = lambda m: None  # noqa: E731
QUICK = dataclasses.replace(CAS, steps=300)


def test_train_fraction_subsets_are_nested_and_leave_val_test_alone():
    parts = {f: prepare(DataConfig(name="digits", train_fraction=f)) for f in (0.1, 0.25, 1.0)}
    ids = {f: set(p.train.ids) for f, p in parts.items()}
    assert ids[0.1] < ids[0.25] < ids[1.0]
    assert 0.05 < len(ids[0.1]) / len(ids[1.0]) < 0.15
    for f in (0.1, 0.25):
        assert parts[f].val.ids == parts[1.0].val.ids and parts[f].test.ids == parts[1.0].test.ids
    assert len({p.info.prep_hash for p in parts.values()}) == 3  # caches of derived models stay apart
    assert parts[0.1].info.n_train == len(ids[0.1])


def test_seeds_ci_matches_the_welch_formula():
    rng = np.random.default_rng(0)
    scores = (rng.random((3, 200)) < 0.8).astype(float)
    a = scores.mean(axis=1).var(ddof=1) / 3
    b = scores.mean(axis=0).var(ddof=1) / 200
    df = (a + b) ** 2 / (a**2 / 2 + b**2 / 199)
    half = student_t.ppf(0.975, df) * np.sqrt(a + b)
    mean, (lo, hi) = seeds_ci(scores)
    assert mean == pytest.approx(scores.mean())
    assert (lo, hi) == pytest.approx((mean - half, mean + half), rel=1e-12)
    same = np.tile(scores[:1], (3, 1))  # seeds agree: only the test-split error remains
    _, (lo1, hi1) = seeds_ci(same)
    assert hi1 - lo1 == pytest.approx(2 * student_t.ppf(0.975, 199) * np.sqrt(same[0].var(ddof=1) / 200))


def test_labels_follow_the_class_mix_whatever_the_order():
    class Ref:
        y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)  # sorted by class, as folders load

    assert torch.bincount(labels_like(Ref, 10, True), minlength=3).tolist() == [5, 3, 2]
    assert torch.bincount(labels_like(Ref, 250, True), minlength=3).tolist() == [125, 75, 50]
    assert labels_like(Ref, 10, False) is None


@pytest.fixture(scope="module")
def digits_small():
    full = prepare(DataConfig(name="digits"))
    small = prepare(DataConfig(name="digits", train_fraction=0.05))
    extra = [i for i, k in enumerate(full.train.ids) if k not in set(small.train.ids)]
    return small, full.train.subset(torch.tensor(extra[:600]))


def _arms(small, pool: ImageSet, seeds: int, steps: int, tmp_path):
    """Every arm on the test split, with a fixed recipe (no search): the lift machinery alone."""
    guard = TestReads(small.test, tmp_path / "reads.jsonl", {"test": True})
    score = ImageDownstream(small.train, {"p": pool}, small.val, guard, small.info, steps)
    chosen = {"none": Recipe("none"), "classic": Recipe("classic", strength=0.5),
              "synthetic": Recipe("synthetic", share=0.5, pool="p"), "synthetic-only": Recipe("synthetic-only", share=1.0, pool="p")}
    guard.lock(chosen.values())
    return measure_arms(score, chosen, "synthetic", "classic", small.test.y.numpy(), small.info.classes, seeds, log=quiet)


def test_lift_is_positive_when_the_synthetic_data_is_extra_real_data(digits_small, tmp_path):
    small, extra = digits_small
    result = _arms(small, extra, seeds=3, steps=300, tmp_path=tmp_path)
    lift = result["chosen"]["lift_vs_none"]
    assert lift["value"] > 0.05 and lift["ci95"][0] > 0 and lift["verdict"] == "helps"
    arms = result["arms"]
    assert lift["value"] == pytest.approx(arms["synthetic"]["accuracy"] - arms["none"]["accuracy"])
    vs_classic = result["chosen"]["lift_vs_classic"]
    assert vs_classic["against"] == "classic"
    assert vs_classic["value"] == pytest.approx(arms["synthetic"]["accuracy"] - arms["classic"]["accuracy"])
    assert set(lift["per_class"]) == set(small.info.classes)
    for m in arms.values():
        assert m["ci95"][0] <= m["accuracy"] <= m["ci95"][1] and len(m["per_seed"]) == 3
    assert len((tmp_path / "reads.jsonl").read_text().splitlines()) == 4 * 3  # each arm once per seed


def test_lift_is_not_positive_when_the_synthetic_data_is_noise(digits_small, tmp_path):
    small, extra = digits_small
    g = torch.Generator().manual_seed(0)
    noise = labelled(torch.randint(0, 256, extra.x.shape, generator=g, dtype=torch.uint8),
                     torch.randint(0, 10, (len(extra),), generator=g), small.train.classes, "noise")
    result = _arms(small, noise, seeds=2, steps=150, tmp_path=tmp_path)
    assert result["chosen"]["lift_vs_none"]["verdict"] != "helps"
    assert result["arms"]["synthetic-only"]["accuracy"] < 0.3  # chance is 0.1


def test_leak_rule():
    d = lambda **kw: DataConfig(name="digits", **kw)  # noqa: E731
    a = lambda run, data, hashes=("h",): Ancestor(run, data, None if hashes is None else frozenset(hashes))  # noqa: E731
    assert leak_problem([a("g", d(train_fraction=0.1))], d(train_fraction=0.1), "h") is None
    assert leak_problem([a("g", d(train_fraction=0.1))], d(train_fraction=0.25), "h") is None
    assert "leak" in leak_problem([a("g", d())], d(train_fraction=0.1), "h")
    # fine-tuned from a run that saw all of train: a leak even though the last run saw 10 %
    assert "leak" in leak_problem([a("g", d(train_fraction=0.1)), a("parent", d())], d(train_fraction=0.1), "h")
    assert "cannot be read" in leak_problem([a("g", d(train_fraction=0.1)), a("gone", None, None)], d(train_fraction=0.1), "h")
    assert "split differently" in leak_problem([a("g", d(train_fraction=0.1, split_seed=1))], d(train_fraction=0.1), "h")
    assert "different version" in leak_problem([a("g", d(train_fraction=0.1), ("h", "old"))], d(train_fraction=0.1), "h")


@pytest.fixture(scope="module")
def half_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("aug") / "run"
    train(out=run, steps=20, overrides=TINY + ["data.train_fraction=0.5"], log=quiet)
    return run


def test_augment_cli_writes_samples_and_result(half_run, tmp_path):
    p = run_cli("augment", str(half_run), "--classifier-steps", "10", "--seeds", "2", "--n", "60")
    assert p.returncode == 0, p.stderr
    assert "lift of" in p.stdout and "near-copy check" in p.stdout and "generator's own variance" in p.stdout
    result = json.loads((half_run / "augment" / "augment.json").read_text())
    assert set(result["arms"]) == {"none", "classic", "synthetic", "classic+synthetic", "synthetic-only"}
    chosen = result["chosen"]
    assert chosen["arm"] in ("synthetic", "classic+synthetic") and chosen["recipe"] == result["arms"][chosen["arm"]]["recipe"]
    for key in ("lift_vs_none", "lift_vs_classic"):
        assert set(chosen[key]) >= {"value", "ci95", "verdict", "against"}
    assert chosen["lift_vs_none"]["against"] == "none" and chosen["lift_vs_classic"]["against"] in ("none", "classic")
    # every candidate was scored on val; the classic arm had as many tries as the synthetic arm
    tried = lambda arm: [r for r in result["search"]["rows"] if r["arm"] == arm]  # noqa: E731
    assert len(tried("classic")) == len(tried("synthetic")) == len(tried("classic+synthetic")) >= 2
    for knob in ("strength", "elastic"):
        assert result["arms"]["classic+synthetic"]["recipe"][knob] == result["arms"]["classic"]["recipe"][knob]
    assert {json.dumps(p["request"]) for p in result["synthetic"]["pools"].values()} >= {"null", '{"truncation": 1.0}'}
    assert not result["leaked"] and result["real_fraction"] == result["generator_train_fraction"] == 0.5
    reads = [json.loads(line) for line in (half_run / "augment" / "test-reads.jsonl").read_text().splitlines()]
    assert len(reads) == 5 * 2 == result["test_reads"]["this_session"]
    assert {json.dumps(r["recipe"], sort_keys=True) for r in reads} == {
        json.dumps(m["recipe"], sort_keys=True) for m in result["arms"].values()}
    back = load_images(str(half_run / "augment" / "synthetic"))  # the chosen pool loads as a labelled dataset
    pool = result["synthetic"]["pools"][result["synthetic"]["chosen_pool"]]
    assert len(back) == pool["n"] and 0 < pool["n"] <= 60
    if not pool["filtered"]:
        real = prepare(DataConfig(**json.loads((half_run / "config.json").read_text())["data"])).train
        assert torch.equal(torch.bincount(back.y, minlength=10), torch.bincount(labels_like(real, 60, True), minlength=10))
    assert result["synthetic"]["copy_check"]["nn_distance_ratio"] > 0
    # a rerun appends to the test-read log, never truncates it
    out = augment_run(half_run, n=24, seeds=2, classifier_steps=5, mix=0.5, strength=0.5, out=tmp_path / "s.npz", log=quiet)
    with np.load(tmp_path / "s.npz", allow_pickle=False) as f:
        assert f["x"].shape[0] <= 24 and f["y"].shape == f["x"].shape[:1]
    assert out["samples"] == str(tmp_path / "s.npz")
    assert all(r["recipe"]["share"] in (0.0, 0.5, 1.0) for r in out["search"]["rows"])
    assert {r["recipe"]["strength"] for r in out["search"]["rows"] if r["arm"] == "classic"} == {0.5}
    assert len((half_run / "augment" / "test-reads.jsonl").read_text().splitlines()) == 2 * 10


def test_augment_refuses_a_leak_and_bad_input(half_run, tmp_path):
    with pytest.raises(GenforgeError, match="would measure a leak.*--allow-leak"):
        augment_run(half_run, real_fraction=0.25, log=quiet)
    warned = []
    result = augment_run(half_run, real_fraction=0.25, allow_leak=True, seeds=2, classifier_steps=5, n=20,
                         out=tmp_path / "leak.npz", log=warned.append)
    assert result["leaked"] and any(w.startswith("WARNING") for w in warned)
    with pytest.raises(GenforgeError, match="--n must be an integer from 1"):
        augment_run(half_run, n=0, log=quiet)
    with pytest.raises(GenforgeError, match="--seeds must be an integer from 2"):
        augment_run(half_run, seeds=1, log=quiet)
    for mix in (0.0, 1.0, -0.1, float("nan")):
        with pytest.raises(GenforgeError, match="--mix is the synthetic share of each batch and must be in"):
            augment_run(half_run, mix=mix, log=quiet)
    with pytest.raises(GenforgeError, match="--strength is the classic augmentation strength"):
        augment_run(half_run, strength=1.5, log=quiet)
    with pytest.raises(GenforgeError, match="unknown --downstream 'vit'; choose one of: cnn, resnet"):
        augment_run(half_run, downstream="vit", log=quiet)
    with pytest.raises(GenforgeError, match="needs at least 10"):
        augment_run(half_run, real_fraction=0.02, allow_leak=True, log=quiet)
    with pytest.raises(GenforgeError, match="--real-fraction must be in"):
        augment_run(half_run, real_fraction=1.5, log=quiet)
    with pytest.raises(GenforgeError, match="a folder .no suffix. or .npz"):
        augment_run(half_run, out=tmp_path / "grid.png", log=quiet)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("mine")
    with pytest.raises(GenforgeError, match="already exists"):
        augment_run(half_run, n=5, seeds=2, classifier_steps=1, out=tmp_path / "full", log=quiet)
    assert (tmp_path / "full" / "x.txt").read_text() == "mine"


def test_augment_follows_the_init_from_lineage(half_run, tmp_path):
    child = tmp_path / "child"
    train(out=child, steps=10, overrides=TINY + ["data.train_fraction=0.5"], init_from=str(half_run), log=quiet)
    parent_full = tmp_path / "full"
    train(out=parent_full, steps=10, overrides=TINY, log=quiet)
    leaky = tmp_path / "leaky"
    train(out=leaky, steps=10, overrides=TINY + ["data.train_fraction=0.5"], init_from=str(parent_full), log=quiet)
    with pytest.raises(GenforgeError, match="full was trained on 100%"):
        augment_run(leaky, log=quiet)
    reuse = {"recipes": {"none": Recipe("none")}, "synthetic_arm": "synthetic", "baseline_arm": "none", "from": "x"}
    with pytest.raises(GenforgeError, match="full was trained on 100%"):  # the study's reuse path is guarded alike
        augment_run(leaky, fixed=reuse, log=quiet)
    assert not augment_run(child, n=10, seeds=2, classifier_steps=2, out=tmp_path / "c.npz", log=quiet)["leaked"]


def test_augment_needs_labels(tmp_path):
    run = tmp_path / "dc"
    train(model="dcgan", out=run, steps=10, overrides=TINY, log=quiet)
    p = run_cli("augment", str(run))
    assert p.returncode == 2 and "unconditional" in p.stderr and "Traceback" not in p.stderr


def test_a_subset_run_is_measured_with_the_whole_train_judge():
    from genforge.core.registry import EXTRACTORS

    sub = prepare(DataConfig(name="digits", train_fraction=0.1))
    full = prepare(DataConfig(name="digits"))
    assert sub.whole.info.prep_hash == full.info.prep_hash and full.whole is full
    a = EXTRACTORS.get("domain")(sub, log=quiet).provenance
    b = EXTRACTORS.get("domain")(full, log=quiet).provenance
    assert a["sha256"] == b["sha256"] and a["classifier_test_accuracy"] > 0.9


def test_augment_refuses_a_changed_dataset(tmp_path):
    run, data = train_on_npz(tmp_path, 150)
    write_npz(data, 160, seed=1)
    with pytest.raises(GenforgeError, match="changed since .* was trained"):
        augment_run(run, log=quiet)
    # a child trained on the new files, fine-tuned from the run that saw the old ones: a leak
    child = tmp_path / "child"
    over = [o for o in TINY if not o.startswith("data.")] + [f'data.name="{data}"']
    train(out=child, steps=10, overrides=over, init_from=str(run), log=quiet)
    with pytest.raises(GenforgeError, match="different version"):
        augment_run(child, log=quiet)
    assert json.loads((child / "config.json").read_text())["train"]["init_from"] == str(run.resolve())


def test_resume_cannot_rewrite_what_the_run_trained_on(half_run, tmp_path):
    child = tmp_path / "child"
    train(out=child, steps=10, overrides=TINY + ["data.train_fraction=0.5"], init_from=str(half_run), log=quiet)
    with pytest.raises(GenforgeError, match="--resume cannot change data.train_fraction"):
        train(resume=child, steps=30, overrides=["data.train_fraction=0.25"], log=quiet)
    with pytest.raises(GenforgeError, match="cannot change"):
        train(resume=child, steps=30, overrides=["train.init_from=null"], log=quiet)
    assert json.loads((child / "config.json").read_text())["train"]["steps"] == 10  # nothing was rewritten


@pytest.mark.parametrize("family,extra,pool", [
    ("cvae", ["model.width=8", "model.z_dim=8"], {"truncation": 1.0}),
    ("diffusion", ["model.width=8", "model.mults=[1,2]", "model.timesteps=50"], {"guidance": 1.0}),
])
def test_augment_works_for_every_conditional_family_from_the_cli(tmp_path, family, extra, pool):
    run = tmp_path / family
    tiny = [o for o in TINY if not o.startswith("model.")] + [f'model.name="{family}"', "data.train_fraction=0.5"] + extra
    train(out=run, steps=20, overrides=tiny, log=quiet)
    p = run_cli("augment", str(run), "--classifier-steps", "5", "--seeds", "2", "--n", "40", "--mix", "0.5")
    assert p.returncode == 0, p.stderr
    result = json.loads((run / "augment" / "augment.json").read_text())
    assert result["run"]["model"] == family and set(result["arms"]) == {"none", "classic", "synthetic", "classic+synthetic",
                                                                        "synthetic-only"}
    assert pool in [p["request"] for p in result["synthetic"]["pools"].values()]  # the family's own pool variant
    assert "lift of" in p.stdout and len((run / "augment" / "test-reads.jsonl").read_text().splitlines()) == 10
