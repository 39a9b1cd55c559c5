"""Contract suite: every registered model builds, runs forward, and saves/loads bit-exactly.

Also the registry's promise that a plug-in needs no edit elsewhere: built-ins are discovered,
third-party ones arrive through the ``genforge.plugins`` entry-point group.
"""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import small_section
from genforge.models.gan_config import GANConfig
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
    """Through the family's declaration only (no network names): it builds, samples deterministically in [-1, 1],
    its critic (if any) scores, and every network saves and loads bit-exactly."""
    spec = MODELS.get(name)
    data = info(size, channels, classes)
    torch.manual_seed(0)
    nets = spec.build(small_section(spec, name), data)
    assert spec.sample_net in nets and (spec.critic is None or spec.critic in nets)
    y = torch.tensor([0, 1, 1]) if spec.conditional_for(data) else None

    def draw(net):
        return spec.generate(net, spec.resolve(None, name), 3, y, seed=7)

    x = draw(nets[spec.sample_net])
    assert x.shape == (3, channels, size, size) and x.abs().max() <= 1 and torch.equal(x, draw(nets[spec.sample_net]))
    if spec.critic is not None:
        assert nets[spec.critic](x, y).shape == (3,)
    for net_name, net in nets.items():
        path = tmp_path / f"{net_name}.safetensors"
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
        torch.manual_seed(1)
        clone = spec.build(small_section(spec, name), data)[net_name]
        clone.load_state_dict(load_file(str(path)))
        for key, value in net.state_dict().items():
            assert torch.equal(value, clone.state_dict()[key]), (net_name, key)
    torch.manual_seed(1)
    clone = spec.build(small_section(spec, name), data)[spec.sample_net]
    clone.load_state_dict(load_file(str(tmp_path / f"{spec.sample_net}.safetensors")))
    assert torch.equal(draw(clone), x)


def test_cgan_needs_labels():
    with pytest.raises(ConfigError, match="cgan needs class labels"):
        MODELS.get("cgan").build(GANConfig(), info(28, 1, 0))


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(ConfigError, match="image size 30 is not supported"):
        MODELS.get("dcgan").build(GANConfig(name="dcgan"), info(30, 1, 0))


def test_unknown_name_suggests():
    with pytest.raises(ConfigError, match="unknown model 'cgn' \\(did you mean 'cgan'\\?\\)"):
        MODELS.get("cgn")


def test_registry_rejects_a_second_plugin_under_one_name():
    reg = Registry("widget")
    reg.register("a")(1)
    assert reg.get("a") == 1 and "a" in reg and reg.names() == ["a"]
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a")(2)


# DESIGN §2: registering needs no edit elsewhere, not even a list in core/.
PKG = Path(__file__).resolve().parents[1] / "src" / "genforge"


def _python(code: str, cwd: Path | None = None) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_discovery_imports_every_module_that_registers():
    registering = {".".join(("genforge", *p.relative_to(PKG).with_suffix("").parts)).removesuffix(".__init__")
                   for p in PKG.rglob("*.py") if ".register(" in p.read_text() and p != PKG / "core" / "registry.py"}
    code = ("import sys; from genforge.core.registry import MODELS; MODELS.names(); "
            "print(' '.join(m for m in sys.modules if m.startswith('genforge')))")
    imported = set(_python(code).split())
    assert len(registering) > 10 and registering - imported == set()
    assert {"genforge.cli", "genforge.api", "genforge.__main__"} & imported == set()  # nothing above the plug-ins


PLUGIN = """from genforge.core.registry import DATASETS


@DATASETS.register("plugin-digits")
def plugin_digits():
    raise NotImplementedError
"""


def test_a_third_party_plugin_arrives_through_its_entry_point(tmp_path):
    (tmp_path / "gf_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "gf_test_plugin-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gf_test_plugin\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[genforge.plugins]\ngf_test_plugin = gf_test_plugin\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from genforge.core.registry import DATASETS; "
            "print(' '.join(DATASETS.names()))")
    names = _python(code).split()
    assert "plugin-digits" in names and "digits" in names


def test_a_broken_plugin_is_named_in_the_error(monkeypatch):
    from importlib.metadata import EntryPoint

    from genforge.core import registry
    from genforge.core.errors import GenforgeError

    broken = EntryPoint(name="gf_broken", value="gf_no_such_module", group=registry.PLUGIN_GROUP)
    monkeypatch.setattr(registry, "_discovered", False)
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: [broken] if group == registry.PLUGIN_GROUP else [])
    with pytest.raises(GenforgeError, match="plug-in 'gf_broken' \\(gf_no_such_module, entry-point group "
                                            "'genforge.plugins'\\) failed to load: No module named"):
        MODELS.names()


def test_import_genforge_imports_no_plugin_module():
    assert _python("import sys, genforge; print([m for m in sys.modules if m.startswith('genforge.')])") == "[]"
