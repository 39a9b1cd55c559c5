"""The in-memory image dataset every family trains on."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class ImageSet:
    """Images as uint8 (N, C, H, W), optional int64 labels (N,), one stable id per item."""

    x: torch.Tensor
    y: torch.Tensor | None
    ids: list[str]
    classes: list[str]
    source: str
    content_hash: str
    skipped: list[str] = field(default_factory=list)  # "file: reason" for each skipped bad file
    notes: list[str] = field(default_factory=list)  # lossy conversions, one line per kind ("12 images were ...")
    decoder_version: int = 0  # decode.DECODER_VERSION for data decoded from files (folders, .npz); 0 for built-ins

    def __post_init__(self) -> None:
        assert self.x.dtype == torch.uint8 and self.x.dim() == 4, (self.x.dtype, self.x.shape)
        assert self.y is None or len(self.y) == len(self.x)
        assert len(self.ids) == len(self.x)

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, index: torch.Tensor) -> ImageSet:
        idx = index.tolist()
        return ImageSet(
            x=self.x[index],
            y=None if self.y is None else self.y[index],
            ids=[self.ids[i] for i in idx],
            classes=self.classes,
            source=self.source,
            content_hash=self.content_hash,
            decoder_version=self.decoder_version,
        )

    def counts(self) -> dict[str, int]:
        if self.y is None:
            return {"(unlabelled)": len(self)}
        bins = torch.bincount(self.y, minlength=len(self.classes)).tolist()
        return {c: n for c, n in zip(self.classes, bins)}


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know about its data; stored in every checkpoint."""

    channels: int
    image_size: int
    num_classes: int  # 0 when unlabelled
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per-channel mean of train images in [0, 1]
    std: tuple[float, ...]
    content_hash: str  # identifies the raw data (file list + bytes)
    prep_hash: str  # content hash + preprocessing + split: keys caches of derived models
    n_train: int
    n_val: int
    n_test: int

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, d: dict) -> DataInfo:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _add_part(h, b: bytes) -> None:
    h.update(len(b).to_bytes(8, "little"))  # length-prefixed, so ("ab", "c") and ("a", "bc") differ
    h.update(b)


def hash_parts(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        _add_part(h, p.encode() if isinstance(p, str) else p)
    return h.hexdigest()


def hash_file_parts(path: Path, *parts: str) -> str:
    """hash_parts(*parts, <the bytes of path>), read in 1 MiB chunks: the same digest in bounded memory."""
    h = hashlib.sha256()
    for p in parts:
        _add_part(h, p.encode())
    with open(path, "rb") as f:
        left = os.fstat(f.fileno()).st_size
        h.update(left.to_bytes(8, "little"))
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise OSError(f"{path} shrank while it was read")
            h.update(chunk)
            left -= len(chunk)
        if f.read(1):
            raise OSError(f"{path} grew while it was read")
    return h.hexdigest()
