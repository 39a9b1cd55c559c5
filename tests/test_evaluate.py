"""`genforge eval` / `compare` end to end on a tiny run, and the evaluation's bad inputs."""
import json
import shutil

import numpy as np
import pytest
import torch

from conftest import TINY, run_cli, train_on_npz, write_npz
from genforge.api import evaluate_run, train
from genforge.core.config import DataConfig
from genforge.core.errors import GenforgeError
from genforge.core.registry import METRICS
from genforge.data.prepare import prepare
from genforge.evaluation.classifier import JUDGE, cache_dir, get_classifier
from genforge.evaluation.evaluate import EvalSettings
from genforge.evaluation.metrics.bootstrap import wilson
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec, direction_of, registered_specs

quiet = lambda m: None  # noqa: E731
FAST = EvalSettings(n=200, resamples=10, cas=True)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    run = tmp_path_factory.mktemp("ev") / "run"
    train(out=run, steps=20, overrides=TINY, log=quiet)
    return run, evaluate_run(run, FAST, log=quiet)


def test_every_metric_has_value_ci_floor_and_provenance(evaluated):
    run, result = evaluated
    expected = {"fid", "kid_mean", "precision", "recall", "density", "coverage", "classifier_score",
                "conditional_accuracy", "cas", "memorisation", "membership_auc", "membership_auc_critic"}
    assert set(result["metrics"]) == expected
    declared = {row: spec.direction for spec in registered_specs().values() for row in spec.rows}
    for name, m in result["metrics"].items():
        assert np.isfinite(m["value"]) and m["floor"] is not None, name
        assert m["direction"] == declared[name], name
        lo, hi = m["ci95"]
        assert lo <= hi, name
        p = m["provenance"]
        assert p["seed"] == 0 and p["dataset_hash"], name
        if name != "membership_auc_critic":
            assert len(p["sha256"]) == 64 and p["extractor"] == "domain-cnn" and p["n_generated"] == 200, name
    critic = result["metrics"]["membership_auc_critic"]["provenance"]
    assert critic["critic"] == "discriminator" and len(critic["critic_sha256"]) == 64
    assert 0 <= result["metrics"]["membership_auc_critic"]["value"] <= 1
    assert result["metrics"]["fid"]["provenance"]["split"] == "test"
    assert result["metrics"]["fid"]["warnings"]  # N=200 is far too small for FID: said so
    saved = json.loads((run / "eval" / "metrics.json").read_text())
    assert saved["metrics"]["fid"]["value"] == result["metrics"]["fid"]["value"]


def test_floor_is_below_a_barely_trained_generator(evaluated):
    _, result = evaluated
    m = result["metrics"]
    assert m["fid"]["floor"] < m["fid"]["value"]
    assert m["recall"]["floor"] > m["recall"]["value"] or m["coverage"]["floor"] > m["coverage"]["value"]


def test_report_is_self_contained(evaluated):
    run, _ = evaluated
    page = (run / "eval" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5  # grid, 2 curves, pairs, PCA
    assert "real-vs-real floor" in page and "http" not in page.replace("http-equiv", "")


def test_eval_is_reproducible(evaluated, tmp_path):
    run, result = evaluated
    again = evaluate_run(run, FAST, log=quiet)
    assert again["metrics"]["fid"]["value"] == result["metrics"]["fid"]["value"]
    assert again["metrics"]["conditional_accuracy"]["value"] == result["metrics"]["conditional_accuracy"]["value"]


def test_compare_cli(evaluated, tmp_path):
    run, _ = evaluated
    p = run_cli("compare", str(run), str(run), "--html", str(tmp_path / "c.html"))
    assert p.returncode == 0, p.stderr
    assert "fid" in p.stdout and "equal" in p.stdout and (tmp_path / "c.html").is_file()


def test_eval_bad_inputs(evaluated, tmp_path):
    run, _ = evaluated
    with pytest.raises(GenforgeError, match="--n must be between 2"):
        evaluate_run(run, EvalSettings(n=1), log=quiet)
    p = run_cli("eval", str(run), "--n-real", "100000")
    assert p.returncode == 2 and "is more than the" in p.stderr and "images of the test split" in p.stderr
    with pytest.raises(GenforgeError, match="does not exist"):
        evaluate_run(run, EvalSettings(n=10, extractor="inception", inception_weights=str(tmp_path / "none.safetensors")), log=quiet)
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "w.safetensors"))
    with pytest.raises(GenforgeError, match="has SHA-256 .* expected"):
        evaluate_run(run, EvalSettings(n=10, extractor="inception", inception_weights=str(tmp_path / "w.safetensors"),
                                       inception_sha256="0" * 64), log=quiet)
    p = run_cli("compare", str(run), str(tmp_path))
    assert p.returncode == 2 and "no eval/metrics.json" in p.stderr


def test_eval_without_checkpoint(tmp_path):
    from genforge.core.config import build_config
    from genforge.core.runs import create_run

    create_run(tmp_path / "r", build_config())
    p = run_cli("eval", str(tmp_path / "r"))
    assert p.returncode == 2 and "has no checkpoint yet" in p.stderr


def test_extractor_cache_is_keyed_by_the_data(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name in ("a", "b"):
        x = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)
        np.savez(tmp_path / f"{name}.npz", x=x, y=np.arange(60) % 2)
        paths.append(tmp_path / f"{name}.npz")
    names = []
    for p in paths:
        d = prepare(DataConfig(name=str(p)))
        names.append(get_classifier(d.train, d.test, d.info, JUDGE, quiet).name)
    assert names[0] != names[1]
    assert (cache_dir() / f"{names[0]}.safetensors").is_file() and (cache_dir() / f"{names[1]}.safetensors").is_file()
    d = prepare(DataConfig(name=str(paths[0])))
    assert get_classifier(d.train, d.test, d.info, JUDGE, quiet).seconds == 0.0  # served from the cache


def test_wilson_interval():
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)


def test_membership_attack_detects_a_copying_generator():
    from genforge.evaluation.metrics.privacy import auc, distance_attack

    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    rng = np.random.default_rng(0)
    train, held_out = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    copier = train + 0.01 * rng.normal(size=train.shape)  # "generates" its training set
    honest = rng.normal(size=(300, 16))
    leak, (lo, _) = distance_attack(train, held_out, copier, resamples=50)
    fair, (flo, fhi) = distance_attack(train, held_out, honest, resamples=50)
    assert leak > 0.95 and lo > 0.9
    assert flo < 0.5 < fhi and abs(fair - 0.5) < 0.08


def test_critic_attack_detects_a_discriminator_that_memorised():
    from genforge.evaluation.metrics.privacy import score_attack

    d = prepare(DataConfig(name="digits"))
    seen = d.train.x[:300].float().flatten(1)

    def memorising_critic(x):  # rates an image as real by how close it is to one it was trained on
        return -torch.cdist(x.float().flatten(1), seen).min(1).values.numpy()

    leak, (lo, _) = score_attack(memorising_critic(d.train.x[:150]), memorising_critic(d.test.x[:150]), 50)
    assert leak > 0.95 and lo > 0.5
    rng = np.random.default_rng(0)  # a critic that knows nothing: its CI covers 0.5 about 95 % of the time
    covers = [lo < 0.5 < hi for _, (lo, hi) in (score_attack(rng.normal(size=150), rng.normal(size=150), 100, seed=s)
                                                 for s in range(40))]
    assert np.mean(covers) >= 0.85


def test_a_small_dataset_still_gets_a_trained_judge():
    sub = prepare(DataConfig(name="digits", train_fraction=0.1))  # ~140 images: 10 epochs would be 20 updates
    judge = get_classifier(sub.train, sub.test, sub.info, JUDGE, quiet)
    assert len(sub.train) < 200 and judge.test_accuracy > 0.8


def test_eval_when_the_dataset_changed(tmp_path):
    run, data = train_on_npz(tmp_path, 120)
    write_npz(data, 130, seed=1)  # files changed
    said = []
    result = evaluate_run(run, EvalSettings(n=20, resamples=2, cas=False), log=said.append)
    assert result["run"]["dataset_changed_since_training"] and any("changed since" in m for m in said)
    write_npz(data, 130, size=16, seed=2)  # other size
    p = run_cli("eval", str(run), "--n", "20")
    assert p.returncode == 2 and "generates 1x8px images but its data now loads as 1x16px" in p.stderr


def test_a_registered_metric_is_an_evaluated_metric(evaluated, tmp_path):
    """evaluate() computes exactly what the registry holds: a metric registered here comes out with its
    declaration; one whose input this evaluation lacks is skipped."""
    run, _ = evaluated
    shutil.copytree(run, tmp_path / "run")  # leave the shared run's eval/ as the other tests wrote it
    seen = []

    def mean_gap(inputs):
        seen.append(inputs)
        return {"mean_gap": Estimate(abs(inputs.real_features.mean() - inputs.fake_features.mean()),
                                     provenance={"note": "made up"}, extras={"gap_note": "extra"})}

    def refuse(inputs):
        raise AssertionError("computed without its input")

    gap_floor = Floor(lambda i: {"mean_gap": abs(i.real_features.mean() - i.half_features.mean())}, "{n_half} vs {split}")
    METRICS.register("test_mean_gap")(MetricSpec(("mean_gap",), ("features",), "lower", "none", mean_gap, gap_floor))
    METRICS.register("test_needs_images")(MetricSpec(("never",), ("images",), "higher", "wilson", refuse))
    try:
        result = evaluate_run(tmp_path / "run", EvalSettings(n=50, resamples=2, cas=False), log=quiet)
        expected = {row: spec.direction for spec in registered_specs().values()
                    if set(spec.inputs) <= seen[0].available() for row in spec.rows}
    finally:
        METRICS.unregister("test_mean_gap")
        METRICS.unregister("test_needs_images")
    m, inputs = result["metrics"], seen[0]
    assert {row: block["direction"] for row, block in m.items()} == expected  # nothing but the registry
    assert "never" not in m and "cas" not in m and len(seen) == 1
    gap = m["mean_gap"]
    assert gap["value"] == abs(inputs.real_features.mean() - inputs.fake_features.mean()) and gap["ci95"] is None
    assert gap["floor"] == abs(inputs.real_features.mean() - inputs.half_features.mean())
    assert gap["provenance"]["note"] == "made up" and gap["provenance"]["floor"] == "50 vs test"
    assert gap["provenance"]["sha256"] == m["fid"]["provenance"]["sha256"] and result["gap_note"] == "extra"
    saved = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert saved["metrics"]["mean_gap"]["direction"] == "lower"
    from genforge.evaluation.compare import compare

    row = next(r for r in compare(saved, saved) if r["metric"] == "mean_gap")  # unregistered now: the file says
    assert row["direction"] == "lower" and row["better"] == "same"


def test_compare_takes_the_direction_from_the_file_else_the_registry():
    from genforge.evaluation.compare import compare, format_rows

    def result(value, direction=None):
        block = {"value": value, "ci95": None, "provenance": {}, **({"direction": direction} if direction else {})}
        return {"metrics": {"fid": dict(block), "unknown_metric": dict(block)}}

    rows = {r["metric"]: r for r in compare(result(1.0), result(2.0))}  # a file from before directions were recorded
    assert rows["fid"]["direction"] == "lower" and rows["fid"]["better"] == "A"
    assert rows["unknown_metric"]["direction"] is None and rows["unknown_metric"]["better"] is None
    assert "not ranked" in format_rows(list(rows.values()), "a", "b")
    rows = {r["metric"]: r for r in compare(result(1.0, "higher"), result(2.0))}  # recorded wins over declared
    assert rows["fid"]["better"] == rows["unknown_metric"]["better"] == "B"
    assert direction_of("kid_mean") == "lower" and direction_of("membership_auc_critic") == "near_0.5"
    with pytest.raises(GenforgeError, match="'fid': direction is not one of"):
        compare(result(1.0, "<b>up</b>"), result(2.0))


def test_compare_ranks_attack_aucs_by_distance_from_half_and_checks_n():
    from genforge.evaluation.compare import compare

    def result(auc, n_real):
        prov = {"sha256": "x", "n_generated": 100, "n_real": n_real, "split": "test"}
        return {"metrics": {"membership_auc": {"value": auc, "ci95": [auc - 0.02, auc + 0.02], "provenance": prov},
                            "fid": {"value": 2.0, "ci95": [1.9, 2.1], "provenance": prov}}}

    rows = {r["metric"]: r for r in compare(result(0.5, 500), result(0.3, 500))}
    assert rows["membership_auc"]["better"] == "A" and rows["membership_auc"]["significant"]
    assert rows["membership_auc"]["comparable"]
    rows = {r["metric"]: r for r in compare(result(0.5, 500), result(0.5, 200))}
    assert not rows["fid"]["comparable"]  # another --n-real: not the same measurement
