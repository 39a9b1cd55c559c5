"""Typed, frozen run configuration.

Every section rejects unknown keys; a typo is an error naming the key and the closest valid one.
Defaults live here, not in YAML. ``--set a.b=value`` overrides a field by dotted path. The
resolved config of a run is written to ``config.json`` with ``format_version``.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from genforge.core.errors import ConfigError, did_you_mean

FORMAT_VERSION = 1


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(Section):
    name: str = "mnist"  # a built-in dataset name or a path (image folder, .npz)
    image_size: PositiveInt | None = None  # resize (Lanczos, antialiased) to this square size
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    test_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    split_seed: int = 0
    on_bad: Literal["skip", "fail"] = "fail"
    denoise: Literal["none", "median3"] = "none"
    max_items: PositiveInt | None = None  # use only the first N items (by id), for quick trials
    # train on a fixed fraction of the train split (chosen by id hash, nested: 10 % lies inside 25 %);
    # val/test are unchanged. For small-data studies such as `genforge augment`.
    train_fraction: float = Field(1.0, gt=0.0, le=1.0)


class ModelConfig(Section):
    name: str = "cgan"
    z_dim: PositiveInt = 64
    g_channels: PositiveInt = 32  # generator width at the highest hidden resolution
    d_channels: PositiveInt = 32  # discriminator width at the first layer
    embed_dim: PositiveInt = 32  # class embedding size in the generator (conditional models)
    spectral_norm: bool = True
    aux_classifier: bool = True  # cgan: an AC-GAN class head on D (weights gan.aux_weight, gan.aux_weight_g)


class GANConfig(Section):
    loss: str = "hinge"  # bce (non-saturating) | hinge | wasserstein
    penalty: str = "none"  # none | gp | r1
    penalty_weight: PositiveFloat = 10.0
    d_steps: PositiveInt = 1
    # DiffAugment (Zhao et al. 2020): "auto" turns it on below `diffaugment_max_items` images.
    diffaugment: Literal["auto", "on", "off"] = "auto"
    diffaugment_policy: tuple[Literal["translation", "cutout", "color"], ...] = ("translation",)
    diffaugment_max_items: PositiveInt = 10000
    ema_decay: float = Field(0.999, ge=0.0, lt=1.0)
    aux_weight: float = Field(1.0, ge=0.0)  # AC-GAN class loss on real images in D (model.aux_classifier)
    aux_weight_g: float = Field(1.0, ge=0.0)  # AC-GAN class loss on generated images in G
    mode_seeking_weight: float = Field(0.3, ge=0.0)  # MSGAN diversity term in G (0 turns it off)


class OptimConfig(Section):
    lr_g: PositiveFloat = 2e-4
    lr_d: PositiveFloat = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)  # Adam betas typical for hinge/SN GANs (Miyato 2018)
    # learning-rate schedule: constant, or linear decay to 0 from decay_start (fraction of train.steps)
    schedule: Literal["constant", "linear"] = "linear"
    decay_start: float = Field(0.5, ge=0.0, le=1.0)


class TrainConfig(Section):
    task: str = "gan"
    steps: PositiveInt = 2000
    time_budget: str | None = None  # e.g. "5m"; converted to `steps` from a measured warm-up
    batch_size: PositiveInt = 64
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: PositiveInt | None = None  # torch intra-op threads; recorded for exact resume
    log_every: PositiveInt = 25
    eval_every: PositiveInt = 500
    checkpoint_every: PositiveInt = 500
    keep_last: PositiveInt = 2
    patience: PositiveInt | None = None  # early stopping: evals without improvement
    eval_samples: PositiveInt = 500  # generated samples per in-training evaluation
    selection_metric: str = "auto"  # auto: val_fjd for conditional models, val_fd otherwise
    grid_every_eval: bool = True
    init_from: str | None = None  # fine-tune: start from this run's best weights


class RunConfig(Section):
    format_version: int = FORMAT_VERSION
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    gan: GANConfig = GANConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()


def _section_fields(model: type[BaseModel], path: tuple) -> list[str]:
    """Valid field names at a dotted path (for suggestions)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = tuple(first["loc"])
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), _section_fields(RunConfig, loc[:-1]))
        return f"unknown config key '{key}'{hint}"
    return f"config key '{key}': {first['msg']} (got {first.get('input')!r})"


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a plain dict into a RunConfig, raising a one-line ConfigError."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings to a nested dict (values parsed as JSON when they are JSON)."""
    out = json.loads(json.dumps(raw))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key.sub=value, got '{item}'")
        path, value = item.split("=", 1)
        parts = path.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {path}: '{part}' is a value, not a section")
        node[parts[-1]] = _parse_value(value)
    return out


def build_config(base: dict[str, Any] | None = None, overrides: list[str] | None = None) -> RunConfig:
    return parse_config(apply_overrides(base or {}, overrides or []))


def config_to_json(cfg: RunConfig) -> str:
    return json.dumps(cfg.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


# Older format versions are migrated by code: MIGRATIONS[v] turns a version-v dict into v+1.
MIGRATIONS: dict[int, Any] = {}


def migrate(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Bring a stored config dict to FORMAT_VERSION, refusing versions newer than this code."""
    version = raw.get("format_version", 0)
    if not isinstance(version, int):
        raise ConfigError(f"{source}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ConfigError(
            f"{source} was written by a newer genforge (format {version}; this version reads up to "
            f"{FORMAT_VERSION}); upgrade genforge to use it"
        )
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise ConfigError(f"{source}: no migration from format {version}; this run is too old")
        raw = MIGRATIONS[version](raw)
        version += 1
        raw["format_version"] = version
    return raw


def parse_duration(text: str) -> float:
    """'90s', '5m', '1.5h' or plain seconds -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            value = float(t[:-1]) * units[t[-1]]
        else:
            value = float(t)
    except ValueError:
        raise ConfigError(f"cannot read time budget '{text}'; use e.g. 90s, 5m or 1.5h") from None
    if value <= 0:
        raise ConfigError(f"time budget must be positive, got '{text}'")
    return value
