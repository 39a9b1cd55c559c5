"""The parts of `genforge augment` below the lift: batch mixing, classic augmentation, the test-read guard, the search."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genforge.augment.classic import affine_matrices, classic_augment, elastic_offsets, gaussian_kernel, random_affine
from genforge.augment.downstream import ARMS, MODELS, Recipe
from genforge.augment.mixing import batches, mix_plan
from genforge.augment.pools import variants
from genforge.augment.search import classic_candidates, leaders, search, strengths_for
from genforge.augment.test_reads import TestReadError, TestReads


def exposures(plan, n_real, n_syn, seed=0):
    real, syn = torch.zeros(n_real, dtype=torch.long), torch.zeros(max(n_syn, 1), dtype=torch.long)
    for r, s in batches(plan, n_real, n_syn, torch.Generator().manual_seed(seed)):
        assert len(r) + len(s) == plan.batch and len(r) == plan.real and len(s) == plan.synthetic
        real += torch.bincount(r, minlength=n_real)
        syn += torch.bincount(s, minlength=max(n_syn, 1))
    return real, syn


@pytest.mark.parametrize("n_real,share", [(200, 0.25), (200, 0.5), (200, 0.9), (37, 0.5), (1000, 0.3)])
def test_each_real_image_is_seen_as_often_in_every_arm(n_real, share):
    base = 400
    none = mix_plan(base, 64, 0.0, n_real)
    mixed = mix_plan(base, 64, share, n_real, n_synthetic=5 * n_real)
    assert none.batch == mixed.batch == min(64, n_real) and none.synthetic == 0
    assert mixed.synthetic == min(max(1, round(share * none.batch)), none.batch - 1)
    assert mixed.updates == math.ceil(base * none.batch / mixed.real)
    seen_none, _ = exposures(none, n_real, 0)
    seen_mixed, seen_syn = exposures(mixed, n_real, 5 * n_real)
    # the same real exposure in total (to within one batch), and per image within the epoch rounding
    assert 0 <= seen_mixed.sum() - seen_none.sum() < mixed.real
    assert seen_none.max() - seen_none.min() <= 1 and seen_mixed.max() - seen_mixed.min() <= 1
    assert abs(seen_mixed.float().mean() - seen_none.float().mean()) < 1
    assert seen_syn.sum() == mixed.updates * mixed.synthetic


def test_concatenation_would_have_starved_the_real_images():
    """The old recipe as arithmetic: 5x synthetic concatenated gives each real image 1/6 of the exposure."""
    plan = mix_plan(800, 64, 5 / 6, 389, 5 * 389)
    seen, _ = exposures(plan, 389, 5 * 389)
    assert seen.float().mean() == pytest.approx(800 * 64 / 389, rel=0.02)  # not 800 * 64 / (6 * 389)


def test_mix_plan_edges():
    only = mix_plan(100, 64, 1.0, 0, 30)
    assert (only.real, only.synthetic, only.updates) == (0, 30, 100)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="share must be in"):
            mix_plan(100, 64, bad, 10, 10)
    with pytest.raises(ValueError, match="needs synthetic images"):
        mix_plan(100, 64, 0.5, 10, 0)


def test_classic_strength_zero_is_the_identity_and_maps_are_proper_affines():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    assert random_affine(x, 0.0, g) is x
    eye = affine_matrices(3, 0.0, torch.Generator().manual_seed(1))
    assert torch.allclose(eye, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(3, 2, 3))
    theta = affine_matrices(500, 1.0, torch.Generator().manual_seed(2)).double()
    det = torch.linalg.det(theta[:, :, :2])
    # det of (rotation · shear) / scale² = 1 / scale², scale within 1 ± 0.2
    assert ((det >= 1 / 1.2**2 - 1e-5) & (det <= 1 / 0.8**2 + 1e-5)).all() and det.std() > 0.05
    assert theta[:, :, 2].abs().max() <= 0.24 + 1e-6  # translation within ±12 % of the side
    with pytest.raises(ValueError, match="strength must be in"):
        random_affine(x, 1.5, g)


def test_classic_augmentation_moves_digits_and_keeps_the_background():
    x = -torch.ones(4, 1, 28, 28)
    x[:, :, 10:18, 12:16] = 1.0  # a bar on black
    out = random_affine(x, 1.0, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    assert (out[:, :, :3, :] == -1).all()  # background moved in stays background
    assert not torch.allclose(out, x) and (out - x).abs().flatten(1).max(1).values.min() > 0.1
    same = random_affine(x, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(out, same)
    # a pure translation by one pixel's worth moves the bar exactly one pixel
    theta = torch.tensor([[[1.0, 0, -2 / 28], [0, 1, 0]]])
    moved = F.grid_sample(x[:1] + 1, F.affine_grid(theta, [1, 1, 28, 28], align_corners=False), align_corners=False) - 1
    assert torch.allclose(moved[0, 0, 10:18, 13:17], torch.ones(8, 4), atol=1e-5)


def test_elastic_offsets_are_smooth_zero_mean_and_scale_with_strength():
    k = gaussian_kernel(4.0)
    assert len(k) == 25 and abs(float(k.sum()) - 1) < 1e-6 and int(k.argmax()) == 12
    full = elastic_offsets(200, 28, 28, 1.0, torch.Generator().manual_seed(0))
    half = elastic_offsets(200, 28, 28, 0.5, torch.Generator().manual_seed(0))
    assert full.shape == (200, 28, 28, 2) and torch.allclose(half, full / 2, atol=1e-6)
    px = full * 14  # back to pixels (the side spans 2 units)
    assert abs(float(px.mean())) < 0.05
    # smoothed uniform noise: neighbours move together; α = 34 px on noise of SD 1/√3 blurred by σ = 4 px gives
    # 34 / √3 · (1 / (2√π σ)) ≈ 1.4 px per axis (the ±3σ truncated kernel: ~1.7)
    assert float(torch.corrcoef(torch.stack([px[:, 5:20, 5, 0].flatten(), px[:, 5:20, 6, 0].flatten()]))[0, 1]) > 0.9
    assert 1.4 < float(px.std()) < 2.1
    # the edges are as smooth as the middle (no padding artefacts)
    edge, middle = float(px[:, 0].std()), float(px[:, 14].std())
    assert edge == pytest.approx(middle, rel=0.1)
    # any side: the kernel's reach beyond a small side is reflected in steps
    assert elastic_offsets(3, 8, 8, 1.0, torch.Generator().manual_seed(1)).shape == (3, 8, 8, 2)


def test_elastic_adds_to_the_affine_map_and_keeps_images_in_range():
    x = -torch.ones(8, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    affine, both = random_affine(x, 0.5, g()), classic_augment(x, 0.5, True, g())
    assert torch.equal(affine, classic_augment(x, 0.5, False, g()))  # the elastic flag off is today's affine
    assert both.min() >= -1 - 1e-6 and both.max() <= 1 + 1e-6 and not torch.allclose(both, affine)
    assert classic_augment(x, 0.0, True, g()) is x
    # a distortion, not a new image: most of the bar's mass stays
    assert float(((both + 1) / 2).sum()) == pytest.approx(float(((affine + 1) / 2).sum()), rel=0.15)


def test_the_classic_arm_gets_k_candidates_half_of_them_elastic():
    assert classic_candidates(8) == [(0.25, False), (0.5, False), (0.75, False), (1.0, False),
                                     (0.25, True), (0.5, True), (0.75, True), (1.0, True)]
    assert classic_candidates(4) == [(0.5, False), (1.0, False), (0.5, True), (1.0, True)]
    # below 4, no room for the elastic switch: a full affine grid (the baseline must not get weaker)
    assert classic_candidates(3) == [(0.333, False), (0.667, False), (1.0, False)] and classic_candidates(1) == [(1.0, False)]
    assert classic_candidates(8, [0.4]) == [(0.4, False), (0.4, True)]


def test_downstream_models_classify_any_square_size():
    info = SimpleNamespace(channels=3, num_classes=5, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    for size in (8, 28, 32):
        for name, make in MODELS.items():
            assert make(info)(torch.zeros(2, 3, size, size)).shape == (2, 5), name


def test_the_test_split_is_read_only_after_the_recipe_is_fixed_and_each_read_is_logged(tmp_path):
    log = tmp_path / "augment" / "test-reads.jsonl"
    test = type("T", (), {"__len__": lambda self: 7})()
    guard = TestReads(test, log, {"session": "a"})
    a, b = Recipe("none"), Recipe("classic", strength=0.5)
    with pytest.raises(TestReadError, match="before the recipe was fixed"):
        guard.read(a, 0)
    guard.lock([a])
    with pytest.raises(TestReadError, match="not chosen"):
        guard.read(b, 0)
    assert guard.read(a, 0) is test and guard.read(a, 1) is test
    with pytest.raises(TestReadError, match="twice for seed 1"):
        guard.read(a, 1)
    again = TestReads(test, log, {"session": "b"})  # a rerun appends
    again.lock([a])
    again.read(a, 0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["session"], r["seed"]) for r in lines] == [("a", 0), ("a", 1), ("b", 0)]
    assert lines[0]["recipe"] == a.to_json() and lines[0]["n_test"] == 7


def test_search_gives_every_arm_the_same_budget_and_never_reads_test():
    calls = []

    def score(recipe, seed, split):
        assert split == "val", "the search read the test split"
        calls.append((recipe, seed))
        # a made-up landscape: classic best at 0.5, share 0.25 best, the filtered pool best
        value = 0.8 - abs(recipe.strength - 0.5) * 0.1 + (0.05 if recipe.pool == "p+filter" else 0) - recipe.share * 0.01
        if recipe.arm == "classic+synthetic":
            value += 0.03
        return np.full(10, value)

    chosen, rows = search(score, ["p", "p+filter"], shares=(0.25, 0.5), search_seeds=2, log=lambda m: None)
    per_arm = {arm: sum(r["arm"] == arm for r in rows) for arm in ("none", "classic", "synthetic", "classic+synthetic")}
    assert per_arm == {"none": 1, "classic": 4, "synthetic": 4, "classic+synthetic": 4}
    assert strengths_for(4) == [0.25, 0.5, 0.75, 1.0]
    assert [(r["recipe"]["strength"], r["recipe"]["elastic"]) for r in rows if r["arm"] == "classic"] == classic_candidates(4)
    assert chosen["classic"] == Recipe("classic", strength=0.5)
    assert chosen["synthetic"] == Recipe("synthetic", share=0.25, pool="p+filter")
    assert chosen["classic+synthetic"] == Recipe("classic+synthetic", 0.5, 0.25, "p+filter")
    assert chosen["synthetic-only"] == Recipe("synthetic-only", share=1.0, pool="p+filter")
    # successive halving: 4 candidates on 2 seeds, the better 2 on 4 seeds; "none" on as many as the classic winner
    assert len(calls) == 4 + 3 * (4 * 2 + 2 * 2) and {s for _, s in calls} == {1000, 1001, 1002, 1003}
    assert [r["val_seeds"] for r in rows if r["arm"] == "none"] == [4] and list(chosen) == list(ARMS)
    assert [r["val_seeds"] for r in rows if r["arm"] == "classic"] == [4, 2, 4, 2]  # strength 0.5, 1.0, 0.5 and 1.0 elastic
    assert [r["recipe"]["strength"] for r in rows if r["arm"] == "classic" and r["chosen"]] == [0.5]
    assert leaders(chosen, rows) == ("classic+synthetic", "classic")
    # when elastic wins the classic arm, classic+synthetic keeps it
    elastic_first = lambda r, s, split: score(r, s, split) + (0.02 if r.elastic else 0.0)  # noqa: E731
    chosen, _ = search(elastic_first, ["p", "p+filter"], shares=(0.25, 0.5), log=lambda m: None)
    assert chosen["classic"] == Recipe("classic", strength=0.5, elastic=True)
    assert chosen["classic+synthetic"] == Recipe("classic+synthetic", 0.5, 0.25, "p+filter", elastic=True)


def test_pool_variants_follow_what_the_family_reads():
    from genforge.sampling.request import SampleRequest

    assert variants(None, {"truncation": None}) == {"default": None, "truncation=1": SampleRequest(truncation=1.0)}
    assert variants(None, {"truncation": 0.7}) == {"default": None}  # the run already truncates
    assert variants(None, {"sampler": "ddim", "guidance": 1.5}) == {"default": None, "guidance=1": SampleRequest(guidance=1.0)}
    assert variants(None, {"guidance": 1.0}) == {"default": None}
    given = SampleRequest(guidance=2.0)
    assert variants(given, {"guidance": 1.5}) == {'{"guidance": 2.0}': given}  # the user's request alone


def test_successive_halving_finds_the_best_of_noisy_candidates_more_often_than_one_pass():
    from genforge.augment.search import SEARCH_SEED, halving

    true = np.array([0.90, 0.905, 0.91, 0.915, 0.92, 0.925, 0.93, 0.95])  # the last is the best
    hits = {"one pass": 0, "halving": 0}
    cost = []
    for trial in range(300):
        noise = np.random.default_rng(trial)
        draws = true[:, None] + 0.02 * noise.standard_normal((8, 16))  # candidate i, seed j: a noisy val accuracy
        calls = []

        def value(i, seed):
            calls.append((i, seed))
            return float(draws[i, seed - SEARCH_SEED])

        winner, values = halving(value, 8)
        hits["halving"] += winner == 7
        hits["one pass"] += int(np.argmax(draws[:, 0])) == 7
        cost.append(len(calls))
        assert all(values[i] == list(draws[i, : len(values[i])]) for i in values)  # seeds in order, none re-drawn
    assert set(cost) == {8 + 4 + 2 * 2}  # about twice one pass
    assert hits["halving"] > hits["one pass"] + 20, hits
    assert halving(lambda i, s: 0.5, 1) == (0, {0: [0.5]})
