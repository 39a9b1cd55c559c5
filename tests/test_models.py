"""Contract suite: every registered model builds, runs forward, and saves/loads bit-exactly."""
import pytest
import torch
from safetensors.torch import load_file, save_file

from genforge.core.config import ModelConfig
from genforge.core.errors import ConfigError
from genforge.core.registry import MODELS, Registry
from genforge.data.imageset import DataInfo


def info(size, channels, classes):
    names = tuple(str(i) for i in range(classes))
    return DataInfo(channels, size, classes, names, (0.5,) * channels, (0.25,) * channels, "h", "p", 100, 10, 10)


SHAPES = [(28, 1, 10), (32, 3, 5), (8, 1, 10), (64, 3, 2)]


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("size,channels,classes", SHAPES)
def test_model_contract(name, size, channels, classes, tmp_path):
    spec = MODELS.get(name)
    torch.manual_seed(0)
    nets = spec.build(ModelConfig(g_channels=8, d_channels=8), info(size, channels, classes))
    G, D = nets["generator"], nets["discriminator"]
    z = torch.randn(3, G.z_dim)
    y = torch.tensor([0, 1, 1]) if spec.conditional else None
    x = G(z, y)
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1
    assert D(x, y).shape == (3,)
    for net_name, net in nets.items():
        net.eval()
        path = tmp_path / f"{net_name}.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
        torch.manual_seed(1)
        clone = spec.build(ModelConfig(g_channels=8, d_channels=8), info(size, channels, classes))[net_name].eval()
        clone.load_state_dict(load_file(str(path)))
        inp = (z, y) if net_name == "generator" else (x.detach(), y)
        assert torch.equal(net(*inp), clone(*inp))


def test_cgan_needs_labels():
    with pytest.raises(ConfigError, match="cgan needs class labels"):
        MODELS.get("cgan").build(ModelConfig(), info(28, 1, 0))


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="image size 30 is not supported"):
        MODELS.get("dcgan").build(ModelConfig(), info(30, 1, 0))


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="unknown model 'cgn' \\(did you mean 'cgan'\\?\\)"):
        MODELS.get("cgn")


def test_registering_needs_no_edit_elsewhere():
    reg = Registry("widget")
    reg.register("a")(1)
    assert reg.get("a") == 1 and "a" in reg and reg.names() == ["a"]
    with pytest.raises(ValueError):
        reg.register("a")(2)
