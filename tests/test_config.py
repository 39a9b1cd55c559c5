import json

import pytest

from genforge.core.config import FORMAT_VERSION, MIGRATIONS, apply_overrides, build_config, default_config, migrate, parse_duration
from genforge.core.errors import ConfigError
from genforge.core.runs import create_run, load_config


def test_defaults_and_frozen():
    cfg = default_config()
    assert cfg.format_version == FORMAT_VERSION and cfg.model.name == "cgan"
    with pytest.raises(Exception):
        cfg.train.steps = 5  # frozen


def test_unknown_key_names_the_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'optim.generator.l' \(did you mean 'lr'\?\)"):
        build_config(overrides=["optim.generator.l=0.1"])
    with pytest.raises(ConfigError, match=r"unknown config key 'model.z_dimm' \(did you mean 'z_dim'\?\)"):
        build_config(overrides=["model.z_dimm=3"])
    with pytest.raises(ConfigError, match="unknown config key 'trian'.*did you mean 'train'"):
        build_config({"trian": {}})


def test_bad_value_is_one_line():
    with pytest.raises(ConfigError) as e:
        build_config(overrides=["optim.discriminator.lr=-1"])
    assert "optim.discriminator.lr" in str(e.value) and "\n" not in str(e.value)


def test_overrides_parse_json_and_strings():
    cfg = build_config(overrides=["train.steps=7", "model.loss=bce", "optim.generator.betas=[0.5,0.99]", "data.image_size=null"])
    assert cfg.train.steps == 7 and cfg.model.loss == "bce" and cfg.optim.generator.betas == (0.5, 0.99)
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["nonsense"])


def test_round_trip_through_run_dir(tmp_path):
    cfg = build_config(overrides=["train.steps=3"])
    create_run(tmp_path / "r", cfg)
    assert load_config(tmp_path / "r") == cfg


def test_newer_format_is_refused(tmp_path):
    cfg = build_config()
    create_run(tmp_path / "r", cfg)
    raw = json.loads((tmp_path / "r" / "config.json").read_text())
    raw["format_version"] = FORMAT_VERSION + 1
    (tmp_path / "r" / "config.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="newer genforge.*upgrade"):
        load_config(tmp_path / "r")


def test_older_format_is_migrated(monkeypatch):
    # A hypothetical format-0 config called train.steps "iterations"; MIGRATIONS[0] renames it, then v1 -> v2 runs.
    def v0_to_v1(raw):
        raw.setdefault("train", {})["steps"] = raw.pop("iterations")
        return raw

    monkeypatch.setitem(MIGRATIONS, 0, v0_to_v1)
    stored = {"format_version": 0, "iterations": 7}
    out = migrate(stored, "test")
    assert out["format_version"] == FORMAT_VERSION and out["train"]["steps"] == 7 and "iterations" in stored  # a copy
    monkeypatch.delitem(MIGRATIONS, 0)
    with pytest.raises(ConfigError, match="no migration from format 0"):
        migrate({"format_version": 0}, "test")


def test_sections_belong_to_the_family():
    """`model` and `optim` are the family's own sections: another family's key is an unknown key."""
    gan = build_config(overrides=['model.name="cgan"'])
    assert set(type(gan.optim).model_fields) == {"schedule", "decay_start", "generator", "discriminator"}
    with pytest.raises(ConfigError, match="unknown model 'nosuch'"):
        build_config(overrides=['model.name="nosuch"'])
    with pytest.raises(ConfigError, match="unknown config key 'optim.encoder'"):
        build_config(overrides=['model.name="dcgan"', "optim.encoder.lr=0.1"])


def test_a_partial_network_override_keeps_the_family_defaults():
    cfg = build_config(overrides=["optim.generator.lr=1e-4"])
    assert cfg.optim.generator.lr == 1e-4 and cfg.optim.generator.betas == (0.0, 0.9)  # GAN betas, not Adam's
    assert cfg.optim.discriminator.betas == (0.0, 0.9)


def test_v1_gan_config_migrates_every_value():
    v1 = {"format_version": 1, "data": {"name": "digits"}, "model": {"name": "dcgan", "z_dim": 12},
          "gan": {"loss": "bce", "ema_decay": 0.9}, "optim": {"lr_g": 1e-3, "lr_d": 3e-4, "betas": [0.5, 0.9],
          "schedule": "constant", "decay_start": 0.2}, "train": {"steps": 9}}
    out = migrate(v1, "test")
    assert "gan" not in out and out["model"] == {"name": "dcgan", "z_dim": 12, "loss": "bce", "ema_decay": 0.9}
    assert out["optim"] == {"schedule": "constant", "decay_start": 0.2,
                            "generator": {"lr": 1e-3, "betas": [0.5, 0.9], "weight_decay": 0.0},
                            "discriminator": {"lr": 3e-4, "betas": [0.5, 0.9], "weight_decay": 0.0}}
    assert out["train"] == {"steps": 9, "checkpoint_minutes": 10.0}  # added within format 1: written out


def test_parse_duration():
    assert parse_duration("90s") == 90 and parse_duration("5m") == 300 and parse_duration("1.5h") == 5400
    with pytest.raises(ConfigError):
        parse_duration("soon")
