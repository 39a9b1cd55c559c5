"""What a registered metric declares about itself; `genforge eval`, `compare` and the report read only this.

A metric module registers one :class:`MetricSpec` (``METRICS.register("fid")(MetricSpec(...))``).
``evaluate()`` loops over ``METRICS.names()``, skips a spec whose inputs this evaluation lacks, and
for each row the spec computes adds the CI its ``ci`` kind names, its floor and the provenance of
the instrument its inputs come from. There is no other path, so a registered metric is an
evaluated metric (DESIGN §6, STYLE §15).

The vocabularies are closed; a spec outside them fails when it is built, not mid-evaluation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genforge.core.errors import ConfigError
from genforge.core.registry import METRICS
from genforge.evaluation.metrics.bootstrap import percentile_bootstrap, wilson
from genforge.evaluation.metrics.inputs import MetricInputs

# Input kind -> the instrument that produced it, whose provenance (name, SHA-256, N, seed) goes with
# every result computed from it. A spec's inputs must come from one instrument.
INPUTS: Mapping[str, str] = {
    "features": "extractor",        # real_features (reference split), fake_features, half_features (floor)
    "train_features": "extractor",  # the whole train split's features (memorisation, membership)
    "probs": "judge",               # fake_probs, real_probs: the domain classifier's p(y|x)
    "labels": "judge",              # fake_labels (requested), real_labels (of the reference split)
    "images": "judge",              # generated and real train images with labels, the data (CAS trains on them)
    "critic": "critic",             # the model's own critic scores of train members and reference images
}
DIRECTIONS = ("lower", "higher", "near_0.5")
DIRECTION_TEXT = {"lower": "lower is better", "higher": "higher is better", "near_0.5": "closer to 0.5 is better"}
# bootstrap: percentile bootstrap, each array of Estimate.samples resampled independently, statistic recomputed;
# wilson: Wilson's score interval of Estimate.count = (successes, trials); none: no interval (ci95 null)
CI_KINDS = ("bootstrap", "wilson", "none")


@dataclass(frozen=True)
class Estimate:
    """One result row: its value and what its spec's CI kind needs."""

    value: float
    statistic: Callable[..., float] | None = None  # bootstrap: recomputes the row from resampled samples
    samples: tuple[np.ndarray, ...] = ()           # bootstrap: the arrays resampled (rows), in statistic's order
    count: tuple[int, int] | None = None           # wilson: (successes, trials)
    provenance: dict[str, Any] = field(default_factory=dict)  # added to the instrument's provenance
    warnings: tuple[str, ...] = ()                 # N too small for this row to mean much
    extras: dict[str, Any] = field(default_factory=dict)      # top-level result entries (memorisation's closest pairs)


@dataclass(frozen=True)
class Floor:
    """The real-vs-real floor: the same metric with real images where the generated ones were
    (for attack AUCs, chance: 0.5). ``describe`` goes into provenance; {split} and {n_half} are filled in."""

    compute: Callable[[MetricInputs], dict[str, float]]
    describe: str


@dataclass(frozen=True)
class MetricSpec:
    rows: tuple[str, ...]                 # the result names it yields (metrics.json keys), unique across specs
    inputs: tuple[str, ...]               # kinds from INPUTS; the spec is skipped when one is missing
    direction: str                        # from DIRECTIONS; every row of a spec shares it
    ci: str                               # from CI_KINDS
    compute: Callable[[MetricInputs], dict[str, Estimate]]  # {row: Estimate}, exactly ``rows``
    floor: Floor | None = None
    ci_cost: int = 1                      # bootstrap resamples = resamples // ci_cost (at least 2), for slow statistics

    def __post_init__(self) -> None:
        problems = [f"unknown input '{k}' (known: {', '.join(INPUTS)})" for k in self.inputs if k not in INPUTS]
        if self.direction not in DIRECTIONS:
            problems.append(f"direction '{self.direction}' is not one of {', '.join(DIRECTIONS)}")
        if self.ci not in CI_KINDS:
            problems.append(f"ci '{self.ci}' is not one of {', '.join(CI_KINDS)}")
        if not self.rows or not self.inputs or len({INPUTS.get(k) for k in self.inputs}) > 1:
            problems.append("it needs rows and inputs, all inputs from one instrument")
        if problems:
            raise ConfigError(f"metric spec {self.rows}: " + "; ".join(problems))

    @property
    def instrument(self) -> str:
        return INPUTS[self.inputs[0]]

    def values(self, inputs: MetricInputs) -> dict[str, float]:
        """Just the numbers: {row: value}."""
        return {row: e.value for row, e in self.compute(inputs).items()}

    def interval(self, estimate: Estimate, resamples: int, seed: int) -> tuple[float, float] | None:
        """The 95 % CI of one row, by this spec's CI kind."""
        if self.ci == "bootstrap":
            return percentile_bootstrap(estimate.statistic, estimate.samples, max(resamples // self.ci_cost, 2), seed)
        if self.ci == "wilson":
            return wilson(*estimate.count)
        return None


def registered_specs() -> dict[str, MetricSpec]:
    """Every registered metric by name; a plug-in registered in the old function form, or two specs
    claiming one row name, is an error naming it."""
    specs, owner = {}, {}
    for name in METRICS.names():
        spec = METRICS.get(name)
        if not isinstance(spec, MetricSpec):
            raise ConfigError(f"metric '{name}' is registered as {type(spec).__name__}, not a MetricSpec; "
                              "declare it as in docs/metrics.md (Adding a metric)")
        for row in spec.rows:
            if row in owner:
                raise ConfigError(f"metrics '{owner[row]}' and '{name}' both yield '{row}'; rename one row")
            owner[row] = name
        specs[name] = spec
    return specs


def direction_of(row: str, block: Any = None) -> str | None:
    """A result row's direction: as recorded in its metrics.json block, else as its registered spec
    declares (files written before directions were recorded), else None (not a known metric)."""
    recorded = block.get("direction") if isinstance(block, dict) else None
    if recorded in DIRECTIONS:
        return recorded
    return next((s.direction for s in registered_specs().values() if row in s.rows), None)

