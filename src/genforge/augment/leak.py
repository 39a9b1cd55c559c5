"""The leak rule of `genforge augment`.

A generator that saw more real images than the baseline classifier carries those images into its
samples, and the "lift" then measures that leak, not augmentation. The rule covers the run and
every run it was fine-tuned from (``train.init_from``), and reads what each one trained on from its
checkpoints (the dataset content hash) as well as from its config.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genforge.core.config import DataConfig
from genforge.core.errors import GenforgeError
from genforge.core.runs import open_run


@dataclass(frozen=True)
class Ancestor:
    """One run in a generator's lineage and what it was trained on; None where that cannot be read."""

    run: str
    data: DataConfig | None
    content_hashes: frozenset[str] | None  # dataset content hash stored in each of its checkpoints


def _read(run: str | Path) -> tuple[Ancestor, str | None]:
    """The run as an Ancestor, and the run it was fine-tuned from."""
    try:
        r = open_run(run)
        cfg = r.config()
        hashes = frozenset(c.state()["data_info"]["content_hash"] for c in r.checkpoints())
    except (GenforgeError, OSError, ValueError, KeyError):
        return Ancestor(str(run), None, None), None
    return Ancestor(str(run), cfg.data, hashes), cfg.train.init_from


def lineage(run: str | Path) -> list[Ancestor]:
    """A run and each run it was fine-tuned from (``train.init_from``), nearest first."""
    chain: list[Ancestor] = []
    source: str | Path | None = run
    while source is not None and len(chain) < 100 and str(source) not in [a.run for a in chain]:
        ancestor, source = _read(source)
        chain.append(ancestor)
    return chain


def leak_problem(chain: list[Ancestor], baseline: DataConfig, content_hash: str) -> str | None:
    """Why the lift would be a leak, or None.

    Every run in ``chain`` must have trained on this very data (``content_hash``, as stored in each
    of its checkpoints), split the same way, and on no larger a fraction of train than the baseline:
    subsets are nested, so a smaller fraction lies inside a larger one.
    """
    def split_key(d: DataConfig) -> DataConfig:
        return d.model_copy(update={"train_fraction": 1.0})

    for a in chain:
        if a.data is None or a.content_hashes is None:
            return (f"{a.run} (in the generator's --init-from lineage) cannot be read, so the real images it saw "
                    "are unknown")
        if a.content_hashes - {content_hash}:
            return (f"{a.run} was trained on a different version of {a.data.name} (its files changed since), so "
                    "the baseline's test images may be among those it saw")
        if split_key(a.data) != split_key(baseline):
            return (f"{a.run} was trained on {a.data.name} prepared or split differently from the baseline, so its "
                    "train images may include the baseline's test images")
        if a.data.train_fraction > baseline.train_fraction:
            return (f"{a.run} was trained on {a.data.train_fraction:.0%} of the train split but the real baseline "
                    f"uses {baseline.train_fraction:.0%}: the synthetic images can carry the other real images, so "
                    "the lift would measure a leak, not augmentation")
    return None
