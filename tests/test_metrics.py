"""Image metrics: parity with torchmetrics, zero/symmetry contracts, behaviour on made-up data, and the
contract every registered metric keeps (what evaluate() relies on)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from genforge.core.errors import ConfigError
from genforge.core.registry import METRICS
from genforge.evaluation.metrics.bootstrap import bootstrap_ci
from genforge.evaluation.metrics.classifier_score import classifier_score
from genforge.evaluation.metrics.fid import fid
from genforge.evaluation.metrics.inputs import ImageInputs, MetricInputs
from genforge.evaluation.metrics.kid import kid
from genforge.evaluation.metrics.memorisation import memorisation
from genforge.evaluation.metrics.prdc import prdc
from genforge.evaluation.metrics.privacy import auc, distance_scores, member_index
from genforge.evaluation.metrics.spec import CI_KINDS, DIRECTIONS, INPUTS, Estimate, MetricSpec, registered_specs


def gaussian(n: int, d: int = 16, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ np.diag(np.linspace(0.5, 2.0, d)) + shift


class StoredFeatures(torch.nn.Module):
    """A torchmetrics 'feature extractor' whose input is row indices into precomputed features."""

    def __init__(self, features: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("table", torch.from_numpy(features))
        self.num_features = features.shape[1]   # torchmetrics reads this instead of probing

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.table[index.long()]


def torchmetrics_on_features(metric_cls, real: np.ndarray, fake: np.ndarray, **kwargs):
    table = StoredFeatures(np.concatenate([real, fake]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # KID warns that it buffers all features
        metric = metric_cls(feature=table, normalize=True, **kwargs)
        metric.update(torch.arange(len(real)), real=True)
        metric.update(torch.arange(len(real), len(real) + len(fake)), real=False)
        return metric.compute()


# ---- parity with torchmetrics (DESIGN §6: same features -> same number)

def test_fid_matches_torchmetrics():
    from torchmetrics.image.fid import FrechetInceptionDistance
    real, fake = gaussian(400, seed=1), gaussian(300, shift=0.3, seed=2) * 1.1
    ours = fid(real, fake)
    theirs = float(torchmetrics_on_features(FrechetInceptionDistance, real, fake))
    assert ours == pytest.approx(theirs, abs=1e-6, rel=1e-6)


def test_kid_matches_torchmetrics_with_one_full_subset():
    from torchmetrics.image.kid import KernelInceptionDistance
    real, fake = gaussian(300, seed=1), gaussian(300, shift=0.2, seed=2)
    mean, std = kid(real, fake, subsets=1, subset_size=300)
    theirs_mean, _ = torchmetrics_on_features(KernelInceptionDistance, real, fake, subsets=1, subset_size=300)
    assert mean == pytest.approx(float(theirs_mean), abs=1e-9, rel=1e-6)
    assert std == 0.0


# ---- contracts: zero where it should be, symmetric, sensitive to a shift

def test_fid_zero_on_itself_and_symmetric():
    a, b = gaussian(500, seed=1), gaussian(400, shift=0.5, seed=2)
    assert abs(fid(a, a)) < 1e-8
    assert fid(a, b) == pytest.approx(fid(b, a), rel=1e-9)


def test_kid_near_zero_for_one_distribution_and_positive_for_a_shift():
    a, b = gaussian(1000, seed=1), gaussian(1000, seed=2)
    mean, std = kid(a, b, subsets=20, subset_size=200, seed=0)
    assert abs(mean) < 3 * std
    shifted_mean, shifted_std = kid(a, gaussian(1000, shift=1.0, seed=3), subsets=20, subset_size=200, seed=0)
    assert shifted_mean > 5 * shifted_std > 0
    assert kid(a, b, subsets=5, subset_size=200, seed=7) == kid(a, b, subsets=5, subset_size=200, seed=7)


def clusters(n_per: int, centres: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(centres)), n_per)
    return centres[labels] + rng.normal(size=(len(labels), centres.shape[1])), labels


def test_prdc_one_mode_generator_is_precise_but_has_low_recall():
    centres = np.random.default_rng(0).normal(scale=20.0, size=(10, 8))
    real, _ = clusters(100, centres, seed=1)
    fake_all, labels = clusters(100, centres, seed=2)
    one_mode = prdc(real, fake_all[labels == 3])
    assert one_mode["precision"] > 0.8 and one_mode["recall"] < 0.15 and one_mode["coverage"] < 0.15
    same = prdc(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    assert same["density"] >= 1.0     # every real point sits in at least its k neighbours' balls


def test_prdc_in_small_blocks_equals_one_block():
    real, fake = gaussian(120, d=4, seed=1), gaussian(90, d=4, shift=0.3, seed=2)
    assert prdc(real, fake, k=3, max_elements=37) == prdc(real, fake, k=3)


# ---- memorisation: planted copies of training digits are caught, held-out digits are not

def digit_features(seed: int = 0):
    """Digits in [0, 1] and a fixed random ReLU projection to 128-d features (no downloads)."""
    rng = np.random.default_rng(seed)
    pixels = load_digits().data / 16.0                        # (1797, 64)
    order = rng.permutation(len(pixels))
    projection = rng.normal(size=(64, 128)) / 8.0
    return pixels[order[:1400]], pixels[order[1400:]], (lambda x: np.maximum(x @ projection, 0.0)), rng


def test_memorisation_flags_planted_copies_not_held_out_images():
    train, held_out, features, rng = digit_features()
    picked = rng.choice(len(train), 200, replace=False)
    exact = train[picked[:100]]
    noisy = np.clip(train[picked[100:]] + rng.normal(0.0, 0.03, size=(100, 64)), 0.0, 1.0)
    fake = features(np.concatenate([exact, noisy, held_out]))
    result = memorisation(fake, features(train))
    planted, genuine = result.flagged[:200], result.flagged[200:]
    assert planted.mean() >= 0.95 and genuine.mean() <= 0.01
    assert np.all(result.ratios[:100] < 1e-6)
    assert np.array_equal(result.nearest_train[:100], picked[:100])


def test_memorisation_survives_duplicates_in_train():
    train = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    result = memorisation(np.array([[0.05, 0.0], [9.0, 9.0]]), train)
    assert np.isfinite(result.ratios).all() and result.flagged.tolist() == [True, False]
    assert result.nearest_train[0] == 0


# ---- bootstrap CI

def test_bootstrap_ci_contains_estimate_and_narrows_with_n():
    def width(n: int) -> float:
        real, fake = gaussian(n, d=4, seed=1), gaussian(n, d=4, shift=1.0, seed=2)
        low, high = bootstrap_ci(fid, real, fake, resamples=40, seed=0)
        assert low <= fid(real, fake) <= high
        return high - low

    assert width(2000) < 0.6 * width(200)
    real, fake = gaussian(100, d=4, seed=1), gaussian(100, d=4, seed=2)
    assert bootstrap_ci(fid, real, fake, resamples=10, seed=3) == bootstrap_ci(fid, real, fake, resamples=10, seed=3)


# ---- classifier score

def test_classifier_score_ranges_from_one_to_num_classes():
    k = 10
    confident_spread = np.eye(k)[np.arange(1000) % k]
    mean, std = classifier_score(confident_spread, splits=10)
    assert mean == pytest.approx(k, rel=1e-9) and std < 1e-9
    assert classifier_score(np.eye(k)[np.zeros(1000, dtype=int)])[0] == pytest.approx(1.0)
    assert classifier_score(np.full((1000, k), 1.0 / k))[0] == pytest.approx(1.0)


def test_conditional_accuracy_counts_agreement():
    from genforge.evaluation.metrics.conditional import conditional_accuracy

    probs = np.eye(3)[[0, 1, 2, 2]]
    assert conditional_accuracy(probs, np.array([0, 1, 2, 0])) == (3, 4)
    out = METRICS.get("conditional_accuracy").values(MetricInputs(gaussian(4, d=2), gaussian(4, d=2), fake_probs=probs,
                                                                  fake_labels=np.array([0, 1, 1, 1])))
    assert out == {"conditional_accuracy": 0.5}


# ---- the contract of every registered metric (DESIGN §6): what evaluate() relies on

def test_every_registered_metric_declares_itself():
    specs = registered_specs()  # also refuses two specs that yield one row name
    assert {"fid", "kid", "prdc", "classifier_score", "memorisation", "conditional_accuracy", "membership_auc",
            "membership_auc_critic", "cas"} <= set(specs)
    for name, spec in specs.items():
        assert isinstance(spec, MetricSpec), name
        assert spec.direction in DIRECTIONS and spec.ci in CI_KINDS and set(spec.inputs) <= set(INPUTS), name
        assert spec.rows and spec.ci_cost >= 1 and (spec.floor is None or spec.floor.describe), name


@pytest.mark.parametrize("bad", [dict(direction="up"), dict(ci="bayes"), dict(inputs=("pixels",)),
                                 dict(inputs=("features", "critic")), dict(rows=())])
def test_a_spec_outside_the_vocabulary_fails_when_declared(bad):
    declared = dict(rows=("x",), inputs=("features",), direction="lower", ci="none", compute=lambda i: {})
    with pytest.raises(ConfigError, match="metric spec"):
        MetricSpec(**{**declared, **bad})


def test_a_metric_registered_in_the_old_function_form_is_named():
    METRICS.register("test_old_form")(lambda inputs: {"x": 1.0})
    try:
        with pytest.raises(ConfigError, match="'test_old_form' is registered as function, not a MetricSpec"):
            registered_specs()
    finally:
        METRICS.unregister("test_old_form")


@pytest.fixture(scope="module")
def every_input(tmp_path_factory):
    """Inputs of every kind on made-up data: each registered metric can compute from them."""
    from conftest import write_npz
    from genforge.core.config import DataConfig
    from genforge.data.prepare import prepare

    rng = np.random.default_rng(0)
    data = prepare(DataConfig(name=str(write_npz(tmp_path_factory.mktemp("npz") / "d.npz", 60))))
    images = ImageInputs(data.train.x[:20], data.train.y[:20], data.train.x[20:40], data.train.y[20:40], data)
    real, fake, train = gaussian(60, d=4, seed=1), gaussian(50, d=4, shift=0.3, seed=2), gaussian(80, d=4, seed=3)
    return MetricInputs(real_features=real, fake_features=fake, half_features=train[:50], train_features=train,
                        fake_probs=rng.dirichlet(np.ones(5), 50), real_probs=rng.dirichlet(np.ones(5), 60),
                        fake_labels=np.arange(50) % 5, real_labels=np.arange(60) % 5,
                        critic_scores=(rng.normal(size=40), rng.normal(size=60)), images=images, seed=3)


@pytest.fixture(scope="module")
def computed(every_input):
    """Each metric computed twice on the same inputs (and its floor once), to check what evaluate() relies on."""
    specs = registered_specs()
    return {name: (s.compute(every_input), s.compute(every_input), s.floor.compute(every_input) if s.floor else {})
            for name, s in specs.items()}


def test_every_metric_computes_its_declared_rows_with_what_its_ci_kind_needs(every_input, computed):
    assert set(computed) == set(registered_specs())
    for name, spec in registered_specs().items():
        estimates, _, floors = computed[name]
        assert set(estimates) == set(spec.rows) and set(floors) <= set(spec.rows), name
        assert all(np.isfinite(v) for v in floors.values()), name
        for row, e in estimates.items():
            assert isinstance(e, Estimate) and isinstance(e.value, float) and np.isfinite(e.value), row
            if spec.ci == "bootstrap":
                assert callable(e.statistic) and e.samples and np.isfinite(e.statistic(*e.samples)), row
            if spec.ci == "wilson":
                k, n = e.count
                assert n > 0 and k / n == pytest.approx(e.value, abs=1e-6), row  # CAS: a float32 accuracy
            ci = spec.interval(e, resamples=20, seed=0)
            assert (ci is None) == (spec.ci == "none"), row
            assert ci is None or ci[0] <= ci[1], row


def test_every_metric_is_deterministic_under_a_seed(every_input, computed):
    for name, spec in registered_specs().items():
        first, second, _ = computed[name]
        assert {r: e.value for r, e in first.items()} == {r: e.value for r, e in second.items()}, name
        for row in first:
            assert spec.interval(first[row], 20, 5) == spec.interval(second[row], 20, 5), row


def test_a_distance_like_metric_is_at_its_best_on_identical_features():
    real, shifted = gaussian(200, d=8, seed=1), gaussian(200, d=8, shift=0.5, seed=2)
    for name, spec in registered_specs().items():
        if spec.inputs != ("features",):
            continue
        same, apart = spec.values(MetricInputs(real, real)), spec.values(MetricInputs(real, shifted))
        for row in spec.rows:
            if spec.direction == "lower":  # zero, or below it for KID's unbiased estimate of sets sharing points
                assert same[row] <= 1e-9 and same[row] < apart[row], row
            else:
                assert spec.direction == "higher" and same[row] >= apart[row], row


def test_the_registry_computes_the_reference_formulas():
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake, train = gaussian(300, seed=1), gaussian(300, shift=0.2, seed=2), gaussian(400, seed=3)
    inputs = MetricInputs(real, fake, train_features=train, seed=4)
    values = {name: spec.values(inputs) for name, spec in registered_specs().items() if spec.inputs[0] == "features"}
    assert values["fid"]["fid"] == pytest.approx(float(torchmetrics_on_features(FrechetInceptionDistance, real, fake)),
                                                 abs=1e-6, rel=1e-6)
    theirs, _ = torchmetrics_on_features(KernelInceptionDistance, real, fake, subsets=1, subset_size=300)
    assert values["kid"]["kid_mean"] == pytest.approx(float(theirs), abs=1e-9, rel=1e-6)  # one full-size subset
    assert values["prdc"] == prdc(real, fake)
    assert values["memorisation"]["memorisation"] == memorisation(fake, train).flagged_fraction
    members = train[member_index(len(train), len(real), 4)]
    assert values["membership_auc"]["membership_auc"] == auc(*distance_scores(members, real, fake))
    rng = np.random.default_rng(0)
    probs, scores = rng.dirichlet(np.ones(4), 100), (rng.normal(size=30), rng.normal(size=40))
    cs = METRICS.get("classifier_score").values(MetricInputs(real, fake, fake_probs=probs))["classifier_score"]
    assert cs == classifier_score(probs, splits=1)[0]
    critic = METRICS.get("membership_auc_critic").values(MetricInputs(real, fake, critic_scores=scores))
    assert critic == {"membership_auc_critic": auc(*scores)}


def test_metric_missing_its_input_names_the_field():
    inputs = MetricInputs(real_features=gaussian(10, d=2), fake_features=gaussian(10, d=2))
    assert inputs.available() == {"features"}
    for name, field in (("memorisation", "train_features"), ("classifier_score", "fake_probs"),
                        ("conditional_accuracy", "fake_probs"), ("membership_auc_critic", "critic_scores"),
                        ("cas", "images")):
        with pytest.raises(ConfigError, match=field):
            METRICS.get(name).compute(inputs)
