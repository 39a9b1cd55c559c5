"""`genforge augment-study`: its statistics against simulations and reference values, stratified subsets, and a tiny study."""
import json

import numpy as np
import pytest
import torch
from conftest import TINY, run_cli

from scipy.stats import t as student_t

from genforge.augment.study import crossed_mean_se, holm, lift_summary, one_sided, verdicts
from genforge.core.config import DataConfig
from genforge.core.errors import GenforgeError
from genforge.data.prepare import prepare

quiet = lambda m: None  # noqa: E731


def simulate(rng, g, s, n, sd_g, sd_c, sd_i, sd_gi, sd_e, mu=0.02):
    return (mu + sd_g * rng.standard_normal((g, 1, 1)) + sd_c * rng.standard_normal((g, s, 1))
            + sd_i * rng.standard_normal((1, 1, n)) + sd_gi * rng.standard_normal((g, 1, n))
            + sd_e * rng.standard_normal((g, s, n)))


@pytest.mark.parametrize("sd", [(0.03, 0.01, 0.3, 0.2, 0.3), (0.0, 0.0, 0.3, 0.0, 0.5), (0.08, 0.02, 0.1, 0.1, 0.1)])
def test_crossed_variance_matches_a_simulation_with_known_components(sd):
    rng = np.random.default_rng(0)
    g, s, n = 3, 4, 200
    sd_g, sd_c, sd_i, sd_gi, sd_e = sd
    true_var = sd_g**2 / g + sd_c**2 / (g * s) + sd_i**2 / n + sd_gi**2 / (g * n) + sd_e**2 / (g * s * n)
    means, est, covered = [], [], 0
    for _ in range(1500):
        d = simulate(rng, g, s, n, *sd)
        m, se, df, _ = crossed_mean_se(d)
        means.append(m)
        est.append(se**2)
        covered += abs(m - 0.02) <= se * float(student_t.ppf(0.975, df))
    assert np.var(means) == pytest.approx(true_var, rel=0.12)
    assert np.mean(est) == pytest.approx(true_var, rel=0.12)
    assert 0.92 <= covered / 1500 <= 0.98


def test_ignoring_the_generator_variance_would_be_overconfident():
    """Pooling three generators as if they were classifier seeds of one misses most of σ²_g: its CI under-covers."""
    rng = np.random.default_rng(1)
    hits = {"crossed": 0, "pooled": 0}
    for _ in range(800):
        d = simulate(rng, 3, 3, 300, 0.05, 0.0, 0.2, 0.0, 0.2)
        for name, x in (("crossed", d), ("pooled", d.reshape(1, 9, 300))):
            m, se, df, _ = crossed_mean_se(x)
            hits[name] += abs(m - 0.02) <= se * float(student_t.ppf(0.975, df))
    assert 0.92 <= hits["crossed"] / 800 <= 0.98
    assert hits["pooled"] / 800 < 0.85
    assert "not included" in crossed_mean_se(np.zeros((1, 2, 5)) + rng.random((1, 2, 5)))[3]


def test_one_generator_falls_back_to_seed_by_item():
    from genforge.augment.lift import seeds_ci

    rng = np.random.default_rng(2)
    scores = (rng.random((3, 100)) < 0.5).astype(float) - (rng.random((3, 100)) < 0.4)
    mean, (_, hi) = seeds_ci(scores)
    m, se, df, _ = crossed_mean_se(scores[None])
    assert m == pytest.approx(mean) and m + student_t.ppf(0.975, df) * se == pytest.approx(hi, rel=1e-9)


def test_holm_against_a_worked_example():
    # Holm (1979) step-down: sorted p 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1, then running maxima
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5]) == [0.5] and holm([0.9, 0.9]) == [1.0, 1.0]


def test_verdicts():
    def regime(mean, se, df=50):
        return {"value": mean, **one_sided(mean, se, df)}

    out = verdicts([regime(0.05, 0.01), regime(-0.02, 0.01), regime(0.005, 0.02)])
    assert [r["verdict"] for r in out] == ["helps", "does not help", "inconclusive"]
    assert out[0]["lower95"] > 0 and out[1]["upper95"] < 0.01
    # Holm makes a borderline regime inconclusive once there are many: p ≈ 0.03 alone helps, among 5 does not
    alone = verdicts([regime(0.0191, 0.01)])[0]
    assert alone["verdict"] == "helps"
    crowd = verdicts([regime(0.0191, 0.01)] + [regime(0.0, 0.01)] * 4)[0]
    assert crowd["verdict"] == "inconclusive" and crowd["p_helps_holm"] > 0.05


def test_lift_summary_shapes():
    d = np.zeros((2, 2, 10))
    d[:, :, :3] = 1
    s = lift_summary(d)
    assert s["value"] == pytest.approx(0.3) and s["generators"] == 2 and s["n_test"] == 10
    with pytest.raises(ValueError, match="expected"):
        crossed_mean_se(np.zeros((3, 10)))


def test_stratified_subsets_are_nested_and_keep_the_class_mix():
    full = prepare(DataConfig(name="digits"))
    counts = torch.bincount(full.train.y, minlength=10)
    subsets = {f: prepare(DataConfig(name="digits", train_fraction=f, stratify=True)) for f in (0.05, 0.2)}
    for f, p in subsets.items():
        got = torch.bincount(p.train.y, minlength=10)
        assert got.tolist() == [max(1, round(f * int(c))) for c in counts]
        assert p.val.ids == full.val.ids and p.test.ids == full.test.ids
    assert set(subsets[0.05].train.ids) < set(subsets[0.2].train.ids)
    plain = prepare(DataConfig(name="digits", train_fraction=0.05))
    assert plain.info.prep_hash != subsets[0.05].info.prep_hash  # derived caches stay apart
    assert prepare(DataConfig(name="digits", stratify=True)).info.prep_hash == full.info.prep_hash


def test_a_tiny_study_runs_resumes_and_refuses_other_settings(tmp_path):
    from genforge.api_study import augment_study

    out = tmp_path / "study"
    args = dict(data="digits", models=["cgan"], fractions=[0.5], out=out, generator_seeds=2, seeds=2, steps=10,
                classifier_steps=5, overrides=TINY[1:])
    r = augment_study(**args, log=quiet)
    (regime,) = r["regimes"]
    assert regime["model"] == "cgan" and regime["vs_none"]["generators"] == 2 and regime["vs_none"]["classifier_seeds"] == 2
    assert regime["vs_none"]["verdict"] in ("helps", "does not help", "inconclusive")
    assert regime["vs_none"]["lower95"] <= regime["vs_none"]["value"] <= regime["vs_none"]["upper95"]
    assert (out / "lifts.png").stat().st_size > 1000 and json.loads((out / "results.json").read_text())["regimes"]
    second = json.loads((out / "cgan-f0.5-g1" / "augment" / "augment.json").read_text())
    first = json.loads((out / "cgan-f0.5-g0" / "augment" / "augment.json").read_text())
    assert second["search"]["reused_from"].endswith("cgan-f0.5-g0") and first["search"]["reused_from"] is None
    assert second["search"]["rows"] == [] and len(first["search"]["rows"]) >= 7
    config = json.loads((out / "cgan-f0.5-g0" / "config.json").read_text())
    assert config["data"]["stratify"] is True and config["data"]["train_fraction"] == 0.5
    said = []
    augment_study(**args, log=said.append)  # resumed: nothing retrained, nothing re-measured
    assert any("resuming" in m for m in said) and not any(m.startswith("==") for m in said)
    with pytest.raises(GenforgeError, match="holds a study with other settings"):
        augment_study(**{**args, "seeds": 3}, log=quiet)
    with pytest.raises(GenforgeError, match="fewer than 2 images of class"):
        augment_study(**{**args, "fractions": [0.01], "out": tmp_path / "s2"}, log=quiet)
    assert not (tmp_path / "s2").exists()


def test_study_cli_bad_input(tmp_path):
    p = run_cli("augment-study", "--fractions", "1.5", "--out", str(tmp_path / "s"))
    assert p.returncode == 2 and "--fractions must be numbers in (0, 1)" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("augment-study", "--model", "nope", "--out", str(tmp_path / "s"))
    assert p.returncode == 2 and "nope" in p.stderr and "Traceback" not in p.stderr


def test_a_config_written_before_data_stratify_existed_still_loads(tmp_path):
    from genforge.core.config import config_to_json, default_config
    from genforge.core.errors import ConfigError
    from genforge.core.runs import load_config

    raw = json.loads(config_to_json(default_config("cgan")))
    del raw["data"]["stratify"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    assert load_config(tmp_path).data.stratify is False  # the behaviour it had: hash subsets
    del raw["data"]["split_seed"]
    (tmp_path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="lacks data.split_seed"):
        load_config(tmp_path)
