"""The leak rule of `genforge augment`.

A generator that saw more real images than the baseline classifier carries those images into its
samples, and the "lift" then measures that leak, not augmentation. The rule covers the run and
every run it was fine-tuned from (``train.init_from``).
"""
from __future__ import annotations

from pathlib import Path

from genforge.core.config import DataConfig, RunConfig
from genforge.core.errors import GenforgeError
from genforge.core.runs import open_run


def lineage(run: str | Path, cfg: RunConfig) -> list[tuple[str, DataConfig | None]]:
    """(run, data config) for a run and each run it was fine-tuned from; None where one cannot be read."""
    chain: list[tuple[str, DataConfig | None]] = [(str(run), cfg.data)]
    source = cfg.train.init_from
    while source and len(chain) < 100 and source not in [name for name, _ in chain]:
        try:
            parent = open_run(source).config()
        except GenforgeError:
            chain.append((source, None))
            break
        chain.append((source, parent.data))
        source = parent.train.init_from
    return chain


def leak_problem(lineage: list[tuple[str, DataConfig | None]], baseline: DataConfig) -> str | None:
    """Why the lift would be a leak, or None.

    ``lineage``: (run, its data config) for the generator's run and every run it was fine-tuned
    from (``train.init_from``), None where that run cannot be read. Each must have split the same
    data the same way and trained on no larger a fraction of train than the baseline: subsets are
    nested, so a smaller fraction lies inside a larger one.
    """
    def split_key(d: DataConfig) -> DataConfig:
        return d.model_copy(update={"train_fraction": 1.0})

    for run, data in lineage:
        if data is None:
            return (f"the generator descends (--init-from) from {run}, which cannot be read, so the real images it "
                    "saw are unknown")
        if split_key(data) != split_key(baseline):
            return (f"{run} was trained on {data.name} prepared or split differently from the baseline, so its train "
                    "images may include the baseline's test images")
        if data.train_fraction > baseline.train_fraction:
            return (f"{run} was trained on {data.train_fraction:.0%} of the train split but the real baseline uses "
                    f"{baseline.train_fraction:.0%}: the synthetic images can carry the other real images, so the lift "
                    "would measure a leak, not augmentation")
    return None
