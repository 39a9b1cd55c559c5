"""The diffusion U-Net: shapes at odd and even sizes, conditioning, argument checks, gradients, save/load."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from genforge.models.unet import UNet

K = 10


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(channels: int = 1, size: int = 28, num_classes: int = K, **kw) -> UNet:
    torch.manual_seed(0)
    return UNet(channels, size, width=8, num_classes=num_classes, groups=4, **kw).eval()


def perturb_output_layer(net: UNet) -> UNet:
    """The output conv starts at zero (the net predicts 0); give it weights so inputs can show in the output."""
    with torch.no_grad():
        net.conv_out.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
        net.conv_out.bias.normal_(0, 0.1, generator=torch.Generator().manual_seed(2))
    return net


def batch(channels: int = 1, size: int = 28, b: int = 3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(b, channels, size, size, generator=g), torch.randint(0, 1000, (b,), generator=g)


@pytest.mark.parametrize("size", [8, 12, 28, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, K])
def test_output_shape_is_input_shape(size, channels, num_classes):
    net = tiny(channels, size, num_classes)
    x, t = batch(channels, size)
    y = torch.tensor([0, 3, num_classes]) if num_classes else None
    with torch.no_grad():
        assert net(x, t, y).shape == x.shape
        assert net(x, t.float() + 0.5, y).shape == x.shape  # fractional timesteps (continuous-time samplers)


def test_defaults_fit_the_cpu_budget_and_attend_only_at_7x7():
    net = UNet(1, 28, num_classes=K)
    params = sum(p.numel() for p in net.parameters())
    assert 500_000 <= params <= 1_500_000, params
    assert net.attention_at == [7]
    assert (net.num_classes, net.null_class, net.image_size, net.channels) == (K, K, 28, 1)
    assert net.label_emb.num_embeddings == K + 1  # row K is the null class
    assert UNet(1, 32).attention_at == []  # no 7x7 map at 32x32: fully convolutional


def test_zero_init_output_predicts_zero():
    x, t = batch()
    assert torch.count_nonzero(tiny()(x, t, torch.zeros(3, dtype=torch.long))) == 0


def test_null_class_differs_from_a_label_and_is_what_y_none_means():
    net = perturb_output_layer(tiny())
    x, t = batch()
    with torch.no_grad():
        null = net(x, t, torch.full((3,), K))
        zero = net(x, t, torch.zeros(3, dtype=torch.long))
        none = net(x, t, None)
    assert not torch.allclose(null, zero)
    assert torch.equal(none, null)


def test_timestep_changes_the_output():
    net = perturb_output_layer(tiny())
    x, t = batch()
    y = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        assert not torch.allclose(net(x, t, y), net(x, t + 100, y))
        assert torch.equal(net(x, torch.tensor(5), y), net(x, torch.full((3,), 5), y))  # a scalar t broadcasts


def test_labels_on_an_unconditional_net_are_rejected():
    x, t = batch()
    with pytest.raises(ValueError, match="unconditional"):
        tiny(num_classes=0)(x, t, torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 30}, "not divisible by GroupNorm groups=8; use width=32"),
    ({"width": 32, "groups": 6}, "not divisible by GroupNorm groups=6"),
    ({"image_size": 7}, "image_size must be in 8..256"),
    ({"image_size": 512}, "image_size must be in 8..256"),
    ({"channels": 0}, "channels must be >= 1"),
    ({"mults": ()}, "mults must be a non-empty tuple"),
    ({"res_blocks": 0}, "res_blocks >= 1"),
    ({"num_classes": -1}, "num_classes >= 0"),
    ({"dropout": 1.0}, "0 <= dropout < 1"),
])
def test_invalid_arguments_raise_value_error_with_the_fix(kwargs, message):
    args = {"channels": 1, "image_size": 28, **kwargs}
    with pytest.raises(ValueError, match=message):
        UNet(**args)


@pytest.mark.parametrize("size, num_classes", [(28, K), (12, 0)])
def test_every_parameter_gets_a_gradient(size, num_classes):
    """No unused parameters: DistributedDataParallel would otherwise need find_unused_parameters=True."""
    net = perturb_output_layer(tiny(size=size, num_classes=num_classes, dropout=0.1)).train()
    x, t = batch(size=size)
    y = torch.tensor([0, 1, K]) if num_classes else None
    net(x, t, y).square().mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_safetensors_round_trip_is_bit_identical(tmp_path):
    net = perturb_output_layer(tiny(3, 12))
    save_file(net.state_dict(), tmp_path / "unet.safetensors")
    torch.manual_seed(123)  # a differently initialised twin
    twin = UNet(3, 12, width=8, num_classes=K, groups=4).eval()
    twin.load_state_dict(load_file(tmp_path / "unet.safetensors"))
    x, t = batch(3, 12)
    y = torch.tensor([1, 2, K])
    with torch.no_grad():
        assert torch.equal(net(x, t, y), twin(x, t, y))
