"""One registry type for every plug-in kind: datasets, models, objectives, samplers, metrics.

A plug-in registers itself with a decorator in its own module; nothing else is edited, not even a
list here. On the first lookup of any registry, :func:`discover_plugins` imports every genforge
module whose source calls ``.register(`` and then every third-party module declared in the
``genforge.plugins`` entry-point group. Importing genforge itself imports none of them.
"""
from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from genforge.core.errors import ConfigError, GenforgeError, did_you_mean

T = TypeVar("T")

PLUGIN_GROUP = "genforge.plugins"
# DESIGN §2: plug-ins live in the building-block and process layers. core/ holds the registry and
# the entry-point layer holds no logic, so neither is searched (importing __main__ would run the CLI).
_NOT_PLUGIN_HOMES = frozenset({"core", "cli", "api", "api_eval", "demo", "__main__", "serving"})

_lock = threading.RLock()
_discovered = False
_discovering = False


def _calls_register(source: Path) -> bool:
    return source.is_file() and ".register(" in source.read_text(encoding="utf-8")


def _builtin_plugin_modules() -> list[str]:
    """Names of the genforge modules whose source calls ``.register(``; reads their text, imports none."""
    import pkgutil

    import genforge

    found, stack = [], [(list(genforge.__path__), "genforge.")]
    while stack:
        path, prefix = stack.pop()
        for info in pkgutil.iter_modules(path, prefix):
            leaf = info.name.removeprefix(prefix)
            if prefix == "genforge." and leaf in _NOT_PLUGIN_HOMES:
                continue
            where = Path(info.module_finder.path, leaf)  # genforge is installed as source files
            if info.ispkg:
                stack.append(([str(where)], info.name + "."))
            if _calls_register(where / "__init__.py" if info.ispkg else where.with_suffix(".py")):
                found.append(info.name)
    return sorted(found)


def discover_plugins() -> None:
    """Import the built-in plug-in modules, then the third-party ones; once per process.

    The one place that imports genforge modules by name (the layering test names it as its
    exception). A lookup made while a plug-in module is being imported sees what is registered so
    far; a failed discovery is retried, and fails again, on the next lookup.
    """
    global _discovered, _discovering
    if _discovered:
        return
    with _lock:
        if _discovered or _discovering:
            return
        _discovering = True
        try:
            for name in _builtin_plugin_modules():
                importlib.import_module(name)
            from importlib.metadata import entry_points

            for ep in entry_points(group=PLUGIN_GROUP):
                try:
                    ep.load()
                except Exception as exc:
                    dist = f" from package '{ep.dist.name}'" if ep.dist else ""
                    raise GenforgeError(f"plug-in '{ep.name}' ({ep.value}{dist}, entry-point group "
                                        f"'{PLUGIN_GROUP}') failed to load: {exc}; fix or uninstall it") from exc
            _discovered = True
        finally:
            _discovering = False


class Registry(Generic[T]):
    """Name -> plug-in. ``get`` on an unknown name raises a ConfigError naming the closest."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        discover_plugins()
        if name not in self._items:
            raise ConfigError(f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}")
        return self._items[name]

    def names(self) -> list[str]:
        discover_plugins()
        return sorted(self._items)

    def unregister(self, name: str) -> None:
        """Remove a plug-in (for tests that register temporary ones)."""
        self._items.pop(name, None)

    def __contains__(self, name: Any) -> bool:
        discover_plugins()
        return name in self._items


DATASETS: Registry = Registry("dataset")
MODELS: Registry = Registry("model")
TASKS: Registry = Registry("task")
GAN_LOSSES: Registry = Registry("gan_loss")
GAN_PENALTIES: Registry = Registry("gan_penalty")
SELECTION_METRICS: Registry = Registry("selection_metric")
EXTRACTORS: Registry = Registry("extractor")
METRICS: Registry = Registry("metric")
SAMPLERS: Registry = Registry("sampler")
