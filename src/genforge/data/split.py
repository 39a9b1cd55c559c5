"""Deterministic splits and data order.

The split of an item is a pure function of (split seed, item id): adding files never reshuffles
the old ones. The order of an epoch is a pure function of (seed, epoch), so the resume state is
just (epoch, offset).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


def split_of(item_id: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    u = _unit_hash(f"{seed}:{item_id}")
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def _unit_hash(text: str) -> float:
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)


def in_train_subset(item_id: str, seed: int, fraction: float) -> bool:
    """Whether a train item belongs to the ``fraction`` subset; subsets are nested across fractions."""
    return fraction >= 1.0 or _unit_hash(f"subset:{seed}:{item_id}") < fraction


def stratified_subset(ids: list[str], labels: list[int], seed: int, fraction: float) -> list[int]:
    """Positions of a class-stratified ``fraction`` subset: per class, the round(fraction · n_c) items (at least one)
    with the lowest subset hash. A smaller fraction takes a prefix of each class's order, so subsets are nested."""
    if fraction >= 1.0:
        return list(range(len(ids)))
    keep: list[int] = []
    for c in sorted(set(labels)):
        members = sorted((k for k, y in enumerate(labels) if y == c), key=lambda k: _unit_hash(f"subset:{seed}:{ids[k]}"))
        keep += members[: max(1, round(fraction * len(members)))]
    return sorted(keep)


def split_indices(ids: list[str], seed: int, val_fraction: float, test_fraction: float) -> dict[str, torch.Tensor]:
    names = [split_of(i, seed, val_fraction, test_fraction) for i in ids]
    return {s: torch.tensor([k for k, n in enumerate(names) if n == s], dtype=torch.long) for s in ("train", "val", "test")}


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch``: one global order, identical on every rank."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


@dataclass
class BatchStream:
    """Yields index batches in epoch order; ``(epoch, offset)`` is its whole state.

    Incomplete tail batches are dropped. Under DDP, rank r takes every world-th index of each
    global batch, so the global batch and the resume state do not depend on the world size.
    """

    n: int
    batch_size: int
    seed: int
    epoch: int = 0
    offset: int = 0
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        assert self.batch_size <= self.n, (self.batch_size, self.n)
        self._order_epoch = -1
        self._order = torch.empty(0, dtype=torch.long)

    def next_indices(self) -> torch.Tensor:
        if self.offset + self.batch_size > self.n:
            self.epoch, self.offset = self.epoch + 1, 0
        if self._order_epoch != self.epoch:
            self._order, self._order_epoch = epoch_order(self.n, self.seed, self.epoch), self.epoch
        batch = self._order[self.offset : self.offset + self.batch_size]
        self.offset += self.batch_size
        return batch[self.rank :: self.world]

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size

    def state(self) -> dict:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state(self, state: dict) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
