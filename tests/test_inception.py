"""The FID InceptionV3 (random weights: the real ones are never available to the tests)."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from genforge.core.checkpoint import sha256_file
from genforge.core.errors import GenforgeError
from genforge.evaluation.inception import FEATURE_DIM, RESIZE_FILTER, InceptionV3, load_inception
from genforge.evaluation.inception_blocks import same_size_pool

# torchvision's inception_v3 has 27,161,264 parameters (its documented count). Ours lacks two heads:
#   fc:        2048*1000 + 1000                                        = 2,049,000
#   AuxLogits: conv0 768*128 (1x1, no bias) + BN 2*128                 =    98,560
#              conv1 128*768*5*5 (no bias) + BN 2*768                  = 2,459,136
#              fc    768*1000 + 1000                                   =   769,000
# 27,161,264 - 2,049,000 - (98,560 + 2,459,136 + 769,000) = 21,785,568.
# The FID blocks only change pooling, which has no parameters, so the counts agree. (The published
# pt_inception file adds its 1008-way fc, 2048*1008 + 1008 = 2,065,392, which genforge ignores.)
FID_INCEPTION_POOL3_PARAMS = 21_785_568


@pytest.fixture(scope="module")
def net() -> InceptionV3:
    torch.manual_seed(0)
    return InceptionV3().eval()


@pytest.fixture(scope="module")
def weights(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "inception.safetensors"
    save_file(net.state_dict(), path)
    return path


def test_parameter_count_is_the_fid_inception_without_heads(net):
    assert sum(p.numel() for p in net.parameters()) == FID_INCEPTION_POOL3_PARAMS


def test_pool3_features_for_grayscale_and_rgb(net):
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        gray = net(torch.rand(2, 1, 28, 28, generator=gen) * 2 - 1)
        rgb = net(torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1)
    assert gray.shape == rgb.shape == (2, FEATURE_DIM)
    assert torch.isfinite(gray).all() and torch.isfinite(rgb).all()


def test_grayscale_is_repeated_and_resized_to_299():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    y = InceptionV3.prepare(x)
    assert y.shape == (2, 3, 299, 299)
    assert torch.equal(y[:, 0], y[:, 2])
    assert "bilinear 299x299" in RESIZE_FILTER


def test_other_channel_counts_are_a_user_error():
    with pytest.raises(GenforgeError, match="got \\(2, 4, 8, 8\\)"):
        InceptionV3.prepare(torch.zeros(2, 4, 8, 8))


def test_fid_pooling_quirks():
    # TF's average pool ignores padding: a constant map stays constant at the border.
    ones = torch.ones(1, 1, 5, 5)
    assert torch.equal(same_size_pool(ones, "avg"), ones)
    torch.manual_seed(0)
    net = InceptionV3()
    assert [net.Mixed_7b.pool, net.Mixed_7c.pool] == ["avg", "max"]


def test_safetensors_round_trip_is_bit_exact(net, weights):
    loaded = load_inception(weights, sha256_file(weights))
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    assert loaded.weights_sha256 == sha256_file(weights)
    a, b = net.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_hash_is_optional_and_recorded(weights):
    assert load_inception(weights, None).provenance()["sha256"] == sha256_file(weights)


def test_wrong_hash_is_reported(weights):
    with pytest.raises(GenforgeError) as e:
        load_inception(weights, "0" * 64)
    msg = str(e.value)
    assert f"has SHA-256 {sha256_file(weights)}, expected {'0' * 64};" in msg and "\n" not in msg


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(GenforgeError, match="does not exist; convert"):
        load_inception(tmp_path / "nope.safetensors", None)


def test_a_pth_file_is_not_read(tmp_path):
    fake = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    fake.write_bytes(b"\x80\x02}q\x00." * 4)  # pickle protocol-2 bytes: must not be unpickled
    with pytest.raises(GenforgeError, match="is not a safetensors file"):
        load_inception(fake, None)


def _rewrite(weights, tmp_path, edit) -> str:
    tensors = load_file(weights)
    edit(tensors)
    path = tmp_path / "edited.safetensors"
    save_file(tensors, path)
    return path


def test_missing_key_is_named(weights, tmp_path):
    path = _rewrite(weights, tmp_path, lambda t: t.pop("Mixed_6c.branch7x7dbl_3.bn.running_var"))
    with pytest.raises(GenforgeError, match="lacks 'Mixed_6c.branch7x7dbl_3.bn.running_var'"):
        load_inception(path, None)


def test_unexpected_key_is_named(weights, tmp_path):
    path = _rewrite(weights, tmp_path, lambda t: t.update({"AuxLogits.fc.bias": torch.zeros(1008)}))
    with pytest.raises(GenforgeError, match="unexpected tensor 'AuxLogits.fc.bias'"):
        load_inception(path, None)


def test_wrong_shape_is_named(weights, tmp_path):
    path = _rewrite(weights, tmp_path, lambda t: t.update({"Mixed_5b.branch_pool.bn.bias": torch.zeros(64)}))
    with pytest.raises(GenforgeError, match="'Mixed_5b.branch_pool.bn.bias' has shape \\(64,\\), expected \\(32,\\)"):
        load_inception(path, None)


def test_published_layout_loads_fc_head_and_no_step_counters(net, weights, tmp_path):
    def as_published(t):
        for k in [k for k in t if k.endswith("num_batches_tracked")]:
            del t[k]
        t["fc.weight"], t["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)

    loaded = load_inception(_rewrite(weights, tmp_path, as_published), None)
    assert torch.equal(loaded.Mixed_7c.branch_pool.conv.weight, net.Mixed_7c.branch_pool.conv.weight)
