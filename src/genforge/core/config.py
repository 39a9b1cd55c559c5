"""Typed, frozen run configuration.

Every section rejects unknown keys; a typo is an error naming the key and the closest valid one.
Defaults live here, not in YAML. ``--set a.b=value`` overrides a field by dotted path. The
resolved config of a run is written to ``config.json`` with ``format_version``.
"""
from __future__ import annotations

import json
import math
from typing import Any, ClassVar, Literal

from typing import Annotated

from pydantic import (BaseModel, ConfigDict, Field, PositiveFloat, SerializeAsAny, ValidationError, create_model,
                      field_validator, model_validator)

from genforge.core.errors import ConfigError, did_you_mean
from genforge.core.registry import MODELS

FORMAT_VERSION = 2
DEFAULT_MODEL = "cgan"  # `--model` when none is given (the demo's family)

# Every size read from a config is bounded, so a typo (or a hostile config.json) cannot ask for tens of
# GB: the validation error states the limit. The bounds are far above what any family here needs.
MAX_SEED = 2**32 - 1  # numpy's seed range; derived seeds (seed·1_000_003 + epoch, seed + k) stay inside torch's
MAX_IMAGE_SIZE = 1024
MAX_WIDTH = 2048  # channels of any network layer
MAX_LATENT = 4096  # z_dim, embed_dim
MAX_BATCH = 65_536
MAX_STEPS = 10**9
MAX_SAMPLES = 100_000  # generated samples in one request (eval, sample, in-training evaluation)
MAX_BUDGET_SECONDS = 30 * 24 * 3600

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Count = Annotated[int, Field(ge=1, le=MAX_STEPS)]
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]
Latent = Annotated[int, Field(ge=1, le=MAX_LATENT)]
Beta = Annotated[float, Field(ge=0.0, lt=1.0)]


class Section(BaseModel):
    # allow_inf_nan=False: NaN or Infinity in any float field (lr=Infinity) is a validation error
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class DataConfig(Section):
    name: str = "mnist"  # a built-in dataset name or a path (image folder, .npz)
    image_size: Annotated[int, Field(ge=2, le=MAX_IMAGE_SIZE)] | None = None  # resize (Lanczos, antialiased) to this square size
    val_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    test_fraction: float = Field(0.1, ge=0.0, lt=0.5)
    split_seed: Seed = 0
    on_bad: Literal["skip", "fail"] = "fail"
    denoise: Literal["none", "median3"] = "none"
    max_items: Count | None = None  # use only the first N items (by id), for quick trials
    # train on a fixed fraction of the train split (chosen by id hash, nested: 10 % lies inside 25 %);
    # val/test are unchanged. For small-data studies such as `genforge augment`.
    train_fraction: float = Field(1.0, gt=0.0, le=1.0)
    # stratified subset: round(fraction x n_c) images of each class c (at least one), the lowest-hashed
    # first, so subsets stay nested; `genforge augment-study` uses it. Unlabelled data ignores it.
    stratify: bool = False


class ModelSection(Section):
    """The `model` section: ``name`` picks the family (MODELS); each family subclasses this with its own keys.

    A discriminated union on ``model.name``: the family's declaration (``ModelSpec.config``) says which class
    validates the section, so a key of another family is an unknown key here.
    """

    name: str = DEFAULT_MODEL


class OptimizerSettings(Section):
    """Adam settings of one trained network (`optim.<network>.*`); AdamW when weight_decay > 0."""

    lr: PositiveFloat = 2e-4
    betas: tuple[Beta, Beta] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)


class OptimConfig(Section):
    """The `optim` section: one schedule for every optimizer, then one `OptimizerSettings` per trained network,
    keyed by the family's network names (``ModelSpec.optimizers``)."""

    # learning-rate schedule: constant, or linear decay to 0 from decay_start (fraction of train.steps)
    schedule: Literal["constant", "linear"] = "linear"
    decay_start: float = Field(0.5, ge=0.0, le=1.0)
    network_defaults: ClassVar[dict[str, OptimizerSettings]] = {}  # the family's defaults, by network

    @model_validator(mode="before")
    @classmethod
    def _fill_from_family(cls, raw: Any) -> Any:
        """`--set optim.generator.lr=1e-4` keeps the family's other generator defaults (not the class defaults)."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        for net, settings in cls.network_defaults.items():
            if isinstance(raw.get(net, {}), dict):
                raw[net] = {**settings.model_dump(mode="json"), **raw.get(net, {})}
        return raw

    def network(self, name: str) -> OptimizerSettings:
        value = getattr(self, name, None)
        if not isinstance(value, OptimizerSettings):
            raise ConfigError(f"no optimizer settings for network '{name}' (optim.{name})")
        return value


class TrainConfig(Section):
    task: str = "auto"  # auto: the model family's own task (TASKS registry)
    steps: Count = 2000
    time_budget: str | None = None  # e.g. "5m"; converted to `steps` from a measured warm-up
    batch_size: Annotated[int, Field(ge=1, le=MAX_BATCH)] = 64
    seed: Seed = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: Annotated[int, Field(ge=1, le=1024)] | None = None  # torch intra-op threads; recorded for exact resume
    log_every: Count = 25
    eval_every: Count = 500
    checkpoint_every: Count = 500
    # also checkpoint when this many minutes passed since the last save (a kill loses at most this much)
    checkpoint_minutes: Annotated[float, Field(gt=0.0, le=24 * 60)] = 10.0
    keep_last: Annotated[int, Field(ge=1, le=1000)] = 2
    patience: Count | None = None  # early stopping: evals without improvement
    eval_samples: Annotated[int, Field(ge=2, le=MAX_SAMPLES)] = 500  # generated samples per in-training evaluation
    selection_metric: str = "auto"  # auto: the model family's default (SELECTION_METRICS)
    grid_every_eval: bool = True
    init_from: str | None = None  # fine-tune: start from this run's best weights

    @field_validator("time_budget")
    @classmethod
    def _budget_parses(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(value)
            except ConfigError as err:
                raise ValueError(str(err)) from None
        return value


# What `--resume` may change: how long and how often, never what is trained or on what data (a
# change of model, loss, optimizer or batch size would not fit the saved state or the data position).
RESUMABLE_KEYS = (
    "train.steps", "train.time_budget", "train.eval_every", "train.checkpoint_every", "train.checkpoint_minutes",
    "train.log_every", "train.keep_last", "train.patience", "train.grid_every_eval", "train.threads", "train.device",
)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# Keys added within the current format, each with the default that reproduces the behaviour of a config
# written before it existed: such a config lacks the key and still reads as it did (no format bump needed).
ADDED_WITHIN_FORMAT: dict[str, Any] = {"data.stratify": False}


def check_complete(raw: dict[str, Any], source: str) -> None:
    """A stored config.json names every key (genforge writes them all): a missing one means it was edited or damaged.

    Only configs read from a run are held to this; `--set` and partial configs fill in the defaults.
    Keys in ADDED_WITHIN_FORMAT may be missing (written before they existed).
    """
    expected = _flat(default_config(family_of(raw)).model_dump(mode="json")).keys() - ADDED_WITHIN_FORMAT.keys()
    missing = sorted(expected - _flat(raw).keys())
    if missing:
        raise ConfigError(f"{source} lacks {missing[0]}" + (f" and {len(missing) - 1} other key(s)" if len(missing) > 1 else "")
                          + "; it was edited or damaged (genforge writes every key). Restore it, or train a new run")


def resume_changes(old: RunConfig, new: RunConfig) -> list[str]:
    """Dotted keys that differ between two configs; ConfigError if any is outside RESUMABLE_KEYS."""
    a, b = _flat(old.model_dump(mode="json")), _flat(new.model_dump(mode="json"))
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    refused = [k for k in changed if k not in RESUMABLE_KEYS]
    if refused:
        k = refused[0]
        raise ConfigError(f"--resume cannot change {k} ({a.get(k)!r} -> {b.get(k)!r}): it would not fit the saved "
                          f"state or the data position. Resume may change only: {', '.join(RESUMABLE_KEYS)}. "
                          "To change anything else, train a new run (--init-from the old one to start from its weights)")
    return changed


class RunConfig(Section):
    """The resolved config of a run. Instances are of a family's subclass (``config_class``), whose `model` and
    `optim` fields are the family's own sections; build them with ``parse_config`` or ``default_config``."""

    format_version: int = FORMAT_VERSION
    data: DataConfig = DataConfig()
    model: SerializeAsAny[ModelSection] = ModelSection()
    optim: SerializeAsAny[OptimConfig] = OptimConfig()
    train: TrainConfig = TrainConfig()


_classes: dict[str, type[RunConfig]] = {}


def config_class(family: str) -> type[RunConfig]:
    """The RunConfig subclass of a family: its `model` section class and an `optim` with one entry per network."""
    if family not in _classes:
        spec = MODELS.get(family)  # an unknown family is a ConfigError naming the closest
        optim = create_model(f"OptimConfig_{family}", __base__=OptimConfig,
                             **{net: (OptimizerSettings, settings) for net, settings in spec.optimizers.items()})
        optim.network_defaults = dict(spec.optimizers)
        _classes[family] = create_model(f"RunConfig_{family}", __base__=RunConfig,
                                        model=(spec.config, spec.config(name=family)), optim=(optim, optim()))
    return _classes[family]


def default_config(family: str = DEFAULT_MODEL) -> RunConfig:
    return config_class(family)()


def _section_fields(model: type[BaseModel], path: tuple) -> list[str]:
    """Valid field names at a dotted path (for suggestions)."""
    for part in path:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(err: ValidationError, cls: type[BaseModel]) -> str:
    first = err.errors()[0]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "constrained-"))))
    key = ".".join(str(p) for p in loc)
    if first["type"] == "extra_forbidden":
        hint = did_you_mean(str(loc[-1]), _section_fields(cls, loc[:-1]))
        return f"unknown config key '{key}'{hint}"
    cause = first.get("ctx", {}).get("error")
    msg = str(cause) if first["type"] == "value_error" and cause is not None else first["msg"]
    shown = repr(first.get("input"))
    return f"config key '{key}': {msg} (got {shown[:80] + '...' if len(shown) > 80 else shown})"


def family_of(raw: dict[str, Any]) -> str:
    """The family a config dict names (`model.name`), the default when it names none."""
    model = raw.get("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f"config key 'model' must be a section (a JSON object), got {type(model).__name__}")
    name = model.get("name", DEFAULT_MODEL)
    if not isinstance(name, str):
        raise ConfigError(f"config key 'model.name': must be a family name, got {name!r}")
    return name


def parse_config(raw: dict[str, Any]) -> RunConfig:
    """Validate a plain dict into the RunConfig of the family it names, raising a one-line ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a JSON object, got {type(raw).__name__}")
    cls = config_class(family_of(raw))
    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_describe(err, cls)) from None


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
        if not all(parts):
            raise ConfigError(f"--set expects key.sub=value, got '{item}'")
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


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 -> 2, the shared sections: ``train.checkpoint_minutes`` (added within format 1) is written out
    with the default that reproduces the old behaviour. The family's own migration moves its sections."""
    train = raw.setdefault("train", {})
    if isinstance(train, dict):
        train.setdefault("checkpoint_minutes", 10.0)
    return raw


# Older format versions are migrated by code: MIGRATIONS[v] turns a version-v dict into v+1 (the shared
# sections), then the family's ``ModelSpec.migrations[v]`` rewrites its own sections.
MIGRATIONS: dict[int, Any] = {1: _v1_to_v2}


def stored_version(raw: dict[str, Any], source: str) -> int:
    """The format version of a stored config dict; a clear error for a newer or malformed one."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must hold a JSON object, found {type(raw).__name__}")
    version = raw.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ConfigError(f"{source}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ConfigError(
            f"{source} was written by a newer genforge (format {version}; this version reads up to "
            f"{FORMAT_VERSION}); upgrade genforge to use it"
        )
    return version


def migrate(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Bring a stored config dict to FORMAT_VERSION (a new dict; ``raw`` is not changed)."""
    version = stored_version(raw, source)
    raw = json.loads(json.dumps(raw))
    while version < FORMAT_VERSION:
        if version not in MIGRATIONS:
            raise ConfigError(f"{source}: no migration from format {version}; this run is too old")
        raw = MIGRATIONS[version](raw)
        family = MODELS.get(family_of(raw))
        if version in family.migrations:
            raw = family.migrations[version](raw)
        version += 1
        raw["format_version"] = version
    return raw


def parse_duration(text: str) -> float:
    """'90s', '5m', '1.5h' or plain seconds -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    t = str(text).strip().lower()
    try:
        if t and t[-1] in units:
            value = float(t[:-1]) * units[t[-1]]
        else:
            value = float(t)
    except ValueError:
        raise ConfigError(f"cannot read time budget '{text}'; use e.g. 90s, 5m or 1.5h") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"time budget must be a positive duration, got '{text}'; use e.g. 90s, 5m or 1.5h")
    if value > MAX_BUDGET_SECONDS:
        raise ConfigError(f"time budget '{text}' is over the limit of {MAX_BUDGET_SECONDS // 86400} days")
    return value
