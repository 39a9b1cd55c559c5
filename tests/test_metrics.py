"""Image metrics: parity with torchmetrics, zero/symmetry contracts, and behaviour on made-up data."""
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
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.kid import kid
from genforge.evaluation.metrics.memorisation import memorisation
from genforge.evaluation.metrics.prdc import prdc


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


# ---- registry: every metric is reachable by name with the common interface

def test_registered_metrics_take_metric_inputs_and_return_floats():
    names = ("fid", "kid", "prdc", "classifier_score", "memorisation", "conditional_accuracy", "membership_auc")
    assert set(names) <= set(METRICS.names())
    rng = np.random.default_rng(0)
    inputs = MetricInputs(real_features=gaussian(60, d=4, seed=1), fake_features=gaussian(50, d=4, seed=2),
                          train_features=gaussian(80, d=4, seed=3), fake_probs=rng.dirichlet(np.ones(5), 50),
                          fake_labels=np.arange(50) % 5)
    for name in names:
        out = METRICS.get(name)(inputs)
        assert out and all(isinstance(v, float) and np.isfinite(v) for v in out.values()), name


def test_metric_missing_its_input_names_the_field():
    inputs = MetricInputs(real_features=gaussian(10, d=2), fake_features=gaussian(10, d=2))
    with pytest.raises(ConfigError, match="train_features"):
        METRICS.get("memorisation")(inputs)
    with pytest.raises(ConfigError, match="fake_probs"):
        METRICS.get("classifier_score")(inputs)
    with pytest.raises(ConfigError, match="fake_probs"):
        METRICS.get("conditional_accuracy")(inputs)


def test_conditional_accuracy_counts_agreement():
    from genforge.evaluation.metrics.conditional import conditional_accuracy

    probs = np.eye(3)[[0, 1, 2, 2]]
    assert conditional_accuracy(probs, np.array([0, 1, 2, 0])) == (3, 4)
    out = METRICS.get("conditional_accuracy")(MetricInputs(gaussian(4, d=2), gaussian(4, d=2), fake_probs=probs,
                                                           fake_labels=np.array([0, 1, 1, 1])))
    assert out == {"conditional_accuracy": 0.5}
