"""Sample grids written during training: one row per class (up to 10), fixed noise every time."""
from __future__ import annotations

import torch

from genforge import __version__
from genforge.core.images import make_grid
from genforge.core.runs import Run
from genforge.data.imageset import DataInfo
from genforge.data.transforms import to_uint8

GRID_COLUMNS = 10


def grid_labels(num_classes: int, per_class: int = GRID_COLUMNS) -> torch.Tensor | None:
    """0,0,...,1,1,... for the first (up to) 10 classes; None when unlabelled."""
    if num_classes < 2:
        return None
    return torch.arange(min(num_classes, 10)).repeat_interleave(per_class)


def eval_grid(sample_fn, conditional: bool, info: DataInfo, seed: int) -> torch.Tensor:
    """sample_fn(n, labels, seed) -> images in [-1, 1]; the same noise at every evaluation."""
    labels = grid_labels(info.num_classes) if conditional else None
    n = len(labels) if labels is not None else GRID_COLUMNS * GRID_COLUMNS
    images = sample_fn(n, labels, seed + 31)
    return make_grid(to_uint8(images.cpu()), nrow=GRID_COLUMNS)


def grid_text(run: Run, step: int, seed: int, conditional: bool) -> dict[str, str]:
    return {"genforge:run": run.name, "genforge:step": str(step), "genforge:seed": str(seed + 31),
            "genforge:version": __version__, "genforge:labels": "row r = class r" if conditional else "unconditional"}
