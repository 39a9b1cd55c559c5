"""One registry type for every plug-in kind: datasets, models, objectives, samplers, metrics.

A plug-in registers itself with a decorator in its own module; nothing else is edited. Built-in
plug-in modules are imported on first lookup (not at package import), so importing genforge
has no side effects.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from genforge.core.errors import ConfigError, did_you_mean

T = TypeVar("T")

# Modules whose import registers the built-in plug-ins of each kind.
_BUILTINS: dict[str, tuple[str, ...]] = {
    "dataset": ("genforge.data.builtin",),
    "model": ("genforge.models.dcgan", "genforge.models.cgan"),
    "task": ("genforge.training.gan",),
    "gan_loss": ("genforge.training.objectives.gan_losses",),
    "gan_penalty": ("genforge.training.objectives.penalties",),
    "selection_metric": ("genforge.evaluation.selection",),
    "extractor": ("genforge.evaluation.extractors",),
    "metric": ("genforge.evaluation.metrics.fid", "genforge.evaluation.metrics.kid",
               "genforge.evaluation.metrics.prdc", "genforge.evaluation.metrics.classifier_score",
               "genforge.evaluation.metrics.memorisation", "genforge.evaluation.metrics.conditional",
               "genforge.evaluation.metrics.privacy"),
}


class Registry(Generic[T]):
    """Name -> plug-in. ``get`` on an unknown name raises a ConfigError naming the closest."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def _load_builtins(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in _BUILTINS.get(self.kind, ()):
                importlib.import_module(module)

    def get(self, name: str) -> T:
        self._load_builtins()
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._items)

    def unregister(self, name: str) -> None:
        """Remove a plug-in (for tests that register temporary ones)."""
        self._items.pop(name, None)

    def __contains__(self, name: Any) -> bool:
        self._load_builtins()
        return name in self._items


DATASETS: Registry = Registry("dataset")
MODELS: Registry = Registry("model")
TASKS: Registry = Registry("task")
GAN_LOSSES: Registry = Registry("gan_loss")
GAN_PENALTIES: Registry = Registry("gan_penalty")
SELECTION_METRICS: Registry = Registry("selection_metric")
EXTRACTORS: Registry = Registry("extractor")
METRICS: Registry = Registry("metric")
