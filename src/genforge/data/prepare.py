"""Load any supported dataset by name or path, preprocess it, and split it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from genforge.core.config import DataConfig
from genforge.core.errors import DataError
from genforge.core.registry import DATASETS
from genforge.data.imageset import DataInfo, ImageSet, hash_parts
from genforge.data.split import in_train_subset, split_indices, stratified_subset
from genforge.data.transforms import median3, resize


def load_images(name: str, image_size: int | None = None, on_bad: str = "fail") -> ImageSet:
    """A built-in dataset name, an image folder or an .npz file -> ImageSet (not yet split)."""
    if name in DATASETS:
        data = DATASETS.get(name)()
        if image_size is not None and tuple(data.x.shape[-2:]) != (image_size, image_size):
            data.x = resize(data.x, image_size)
        return data
    path = Path(name).expanduser()
    if not path.exists():
        from genforge.core.errors import did_you_mean

        raise DataError(f"dataset '{name}' is neither a built-in name nor an existing path{did_you_mean(name, DATASETS.names())}")
    if path.is_dir():
        from genforge.data.files import load_folder

        return load_folder(path, image_size, on_bad)
    if path.suffix.lower() == ".npz":
        from genforge.data.npz import load_npz

        return load_npz(path, image_size)
    raise DataError(f"{path}: unsupported data file (use an image folder with one subfolder per class, or .npz)")


@dataclass
class PreparedData:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    info: DataInfo
    # The same data with the whole train split, when `train` is a data.train_fraction subset. For
    # measuring instruments that take no part in training (the eval judge): runs trained on different
    # fractions are then measured with one instrument. None when `train` is the whole split.
    full: PreparedData | None = None

    @property
    def whole(self) -> PreparedData:
        return self.full or self


def _channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    xf = x.float() / 255.0
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


def prepare(cfg: DataConfig, warn=print) -> PreparedData:
    """Load, clean (optional median filter), split by id hash; statistics from train only."""
    data = load_images(cfg.name, cfg.image_size, cfg.on_bad)
    if data.skipped:
        warn(f"warning: skipped {len(data.skipped)} unreadable file(s): " + "; ".join(data.skipped[:3])
             + (" ..." if len(data.skipped) > 3 else ""))
    for note in data.notes:
        warn(f"warning: {note}")
    if cfg.max_items is not None and cfg.max_items < len(data):
        data = data.subset(torch.arange(cfg.max_items))
    if cfg.denoise == "median3":
        data.x = median3(data.x)
    if data.x.shape[-1] != data.x.shape[-2]:
        raise DataError(f"{cfg.name}: images are {data.x.shape[-1]}x{data.x.shape[-2]}; set --set data.image_size=N to make them square")
    parts = split_indices(data.ids, cfg.split_seed, cfg.val_fraction, cfg.test_fraction)
    train, val, test = (data.subset(parts[s]) for s in ("train", "val", "test"))
    whole = _assemble(data, cfg.model_copy(update={"train_fraction": 1.0}), train, val, test)
    if cfg.train_fraction >= 1.0:
        return whole
    if cfg.stratify and train.y is not None:
        keep = stratified_subset(train.ids, train.y.tolist(), cfg.split_seed, cfg.train_fraction)
    else:
        keep = [k for k, i in enumerate(train.ids) if in_train_subset(i, cfg.split_seed, cfg.train_fraction)]
    return _assemble(data, cfg, train.subset(torch.tensor(keep, dtype=torch.long)), val, test, full=whole)


def _assemble(data: ImageSet, cfg: DataConfig, train: ImageSet, val: ImageSet, test: ImageSet,
              full: PreparedData | None = None) -> PreparedData:
    """Statistics from train only, and the hash that keys every cache derived from this preparation."""
    if len(train) == 0:
        raise DataError(f"{cfg.name}: the train split is empty ({len(data)} items, train_fraction {cfg.train_fraction}); "
                        "add data or lower the val/test fractions")
    mean, std = _channel_stats(train.x)
    prep = hash_parts(data.content_hash, str(cfg.image_size), cfg.denoise, str(cfg.max_items),
                      f"{cfg.split_seed}:{cfg.val_fraction}:{cfg.test_fraction}",
                      *([f"train_fraction:{cfg.train_fraction}"] if cfg.train_fraction < 1.0 else []),
                      *(["stratified"] if cfg.stratify and cfg.train_fraction < 1.0 else []),
                      # file-based data only, so built-in datasets keep the hashes of earlier runs
                      *([f"decoder:{data.decoder_version}"] if data.decoder_version else []))
    info = DataInfo(
        channels=int(data.x.shape[1]),
        image_size=int(data.x.shape[-1]),
        num_classes=len(data.classes) if data.y is not None else 0,
        classes=tuple(data.classes),
        mean=mean,
        std=std,
        content_hash=data.content_hash,
        prep_hash=prep,
        n_train=len(train),
        n_val=len(val),
        n_test=len(test),
    )
    return PreparedData(train, val, test, info, full)
