"""Membership inference audit: can an attacker tell training images from held-out real images?

Attack (distance to generated samples, in the spirit of Hilprecht et al. 2019): score each real
image by minus its distance to the nearest generated sample; a generator that memorised its
training set puts samples closer to members than to non-members. The audit reports the attack's
ROC AUC (members = a random train subset, non-members = the held-out reference split, same size),
with a bootstrap CI: ≈ 0.5 means no leakage this attack can measure. It is a lower bound on
leakage, not a privacy guarantee: a stronger attack may do better.

Attack (critic score, LOGAN's white-box attack, Hayes et al. 2019): score each real image by the
model's own critic (a GAN's discriminator). A discriminator that overfits its training set rates
members as more real than held-out images. It needs the model's weights, so it is the stronger
attacker of the two; ≈ 0.5 again means no leakage it can measure.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from genforge.core.registry import METRICS
from genforge.evaluation.metrics.bootstrap import bootstrap_ci
from genforge.evaluation.metrics.inputs import MetricInputs
from genforge.evaluation.metrics.neighbours import as_tensor, nearest
from genforge.evaluation.metrics.spec import Estimate, Floor, MetricSpec


def member_index(n_train: int, n_reference: int, seed: int) -> np.ndarray:
    """The attacks' members: a seeded random train subset the size of the reference split (all of
    train when it is smaller)."""
    return np.random.default_rng(seed).permutation(n_train)[:n_reference]


def auc(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> float:
    """ROC AUC = P(score(member) > score(non-member)) + ½P(tie) (Mann–Whitney U / (n₁n₀))."""
    both = np.concatenate([member_scores, nonmember_scores])
    ranks = rankdata(both)
    n1, n0 = len(member_scores), len(nonmember_scores)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def distance_attack(members: np.ndarray, nonmembers: np.ndarray, fake: np.ndarray,
                    resamples: int = 200, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """(AUC, 95 % CI) of the nearest-generated-sample attack on feature arrays."""
    return score_attack(*distance_scores(members, nonmembers, fake), resamples, seed)


def distance_scores(members: np.ndarray, nonmembers: np.ndarray, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Attack scores: minus each image's distance to its nearest generated sample."""
    f = as_tensor(fake)
    return -nearest(as_tensor(members), f)[0].numpy(), -nearest(as_tensor(nonmembers), f)[0].numpy()


def score_attack(member_scores: np.ndarray, nonmember_scores: np.ndarray, resamples: int = 200,
                 seed: int = 0) -> tuple[float, tuple[float, float]]:
    """(AUC, 95 % CI) of an attack that calls the higher-scored image a member."""
    return auc(member_scores, nonmember_scores), bootstrap_ci(auc, member_scores, nonmember_scores, max(resamples, 2), seed)


def _attack(row: str, scores: tuple[np.ndarray, np.ndarray], attack: str) -> dict[str, Estimate]:
    """An attack AUC whose bootstrap resamples members' and non-members' scores."""
    return {row: Estimate(auc(*scores), auc, scores, provenance={"attack": attack})}


def _chance(row: str) -> Floor:
    """Attack AUCs have no real-vs-real measurement: their floor is chance, 0.5."""
    return Floor(lambda inputs: {row: 0.5}, "0.5 = attacker cannot tell train from held-out")


def _distance_attack(inputs: MetricInputs) -> dict[str, Estimate]:
    train = inputs.require("train_features", "membership_auc")
    members = train[member_index(len(train), len(inputs.real_features), inputs.seed)]
    return _attack("membership_auc", distance_scores(members, inputs.real_features, inputs.fake_features),
                   "distance to nearest generated sample")


def _critic_attack(inputs: MetricInputs) -> dict[str, Estimate]:
    return _attack("membership_auc_critic", inputs.require("critic_scores", "membership_auc_critic"),
                   "critic score (LOGAN white-box, Hayes et al. 2019)")


METRICS.register("membership_auc")(MetricSpec(
    rows=("membership_auc",), inputs=("features", "train_features"), direction="near_0.5", ci="bootstrap",
    compute=_distance_attack, floor=_chance("membership_auc")))
METRICS.register("membership_auc_critic")(MetricSpec(
    rows=("membership_auc_critic",), inputs=("critic",), direction="near_0.5", ci="bootstrap",
    compute=_critic_attack, floor=_chance("membership_auc_critic")))
