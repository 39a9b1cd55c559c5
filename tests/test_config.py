import json

import pytest

from genforge.core.config import FORMAT_VERSION, MIGRATIONS, RunConfig, apply_overrides, build_config, migrate, parse_duration
from genforge.core.errors import ConfigError
from genforge.core.runs import create_run, load_config


def test_defaults_and_frozen():
    cfg = RunConfig()
    assert cfg.format_version == FORMAT_VERSION and cfg.model.name == "cgan"
    with pytest.raises(Exception):
        cfg.train.steps = 5  # frozen


def test_unknown_key_names_the_closest():
    with pytest.raises(ConfigError, match=r"unknown config key 'optim.lrg' \(did you mean 'lr_g'\?\)"):
        build_config(overrides=["optim.lrg=0.1"])
    with pytest.raises(ConfigError, match="unknown config key 'trian'.*did you mean 'train'"):
        build_config({"trian": {}})


def test_bad_value_is_one_line():
    with pytest.raises(ConfigError) as e:
        build_config(overrides=["optim.lr_g=-1"])
    assert "optim.lr_g" in str(e.value) and "\n" not in str(e.value)


def test_overrides_parse_json_and_strings():
    cfg = build_config(overrides=["train.steps=7", "gan.loss=bce", "optim.betas=[0.5,0.99]", "data.image_size=null"])
    assert cfg.train.steps == 7 and cfg.gan.loss == "bce" and cfg.optim.betas == (0.5, 0.99)
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
    # A format-0 config called the GAN loss "objective"; the migration renames it.
    def v0_to_v1(raw):
        raw = dict(raw)
        raw.setdefault("gan", {})["loss"] = raw.pop("objective")
        return raw

    monkeypatch.setitem(MIGRATIONS, 0, v0_to_v1)
    out = migrate({"format_version": 0, "objective": "bce"}, "test")
    assert out["format_version"] == FORMAT_VERSION and out["gan"]["loss"] == "bce"
    monkeypatch.delitem(MIGRATIONS, 0)
    with pytest.raises(ConfigError, match="no migration from format 0"):
        migrate({"format_version": 0}, "test")


def test_parse_duration():
    assert parse_duration("90s") == 90 and parse_duration("5m") == 300 and parse_duration("1.5h") == 5400
    with pytest.raises(ConfigError):
        parse_duration("soon")
