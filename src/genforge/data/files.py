"""User data from disk: an image folder (one subfolder per class), or an .npz file (see npz.py).

Every size is bounded before anything is allocated; a bad image is reported by name and skipped or
rejected (``on_bad``). How each image is decoded, and what is reported when that loses information,
is decode.py's business.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from genforge.core.errors import DataError
from genforge.data import decode
from genforge.data.imageset import ImageSet, hash_file_parts
from genforge.data.npz import load_npz

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_FOLDER_BYTES = 8 << 30  # decoded uint8 pixels of a whole folder


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _stack(arrays: list[np.ndarray], names: list[str], root: Path) -> torch.Tensor:
    shapes = {a.shape[:2] for a in arrays}
    if len(shapes) > 1:
        by_shape: dict[tuple, str] = {}
        for a, n in zip(arrays, names):
            by_shape.setdefault(a.shape[:2], n)
        (s1, n1), (s2, n2) = list(by_shape.items())[:2]
        raise DataError(
            f"images have different sizes ({s1[1]}x{s1[0]} in {n1}, {s2[1]}x{s2[0]} in {n2}); "
            f"resize them with --set data.image_size=N"
        )
    rgb = any(a.ndim == 3 for a in arrays)
    total = len(arrays) * arrays[0].shape[0] * arrays[0].shape[1] * (3 if rgb else 1)
    if total > MAX_FOLDER_BYTES:  # grayscale images promoted to RGB triple in size
        raise DataError(f"{root}: the decoded images would take {decode.size_text(total)}, over the "
                        f"{decode.size_text(MAX_FOLDER_BYTES)} limit; make them smaller with --set data.image_size=N "
                        "or use part of the folder")
    out = [np.repeat(a[..., None], 3, axis=2) if (rgb and a.ndim == 2) else a for a in arrays]
    x = torch.from_numpy(np.stack(out))
    return x.permute(0, 3, 1, 2).contiguous() if rgb else x[:, None].contiguous()


def load_folder(root: Path, size: int | None, on_bad: str) -> ImageSet:
    classes = _class_dirs(root)
    if classes:
        files = [(c.name, f) for c in classes for f in _image_files(c, recursive=True)]
    else:
        files = [("", f) for f in _image_files(root, recursive=False)]
    if not files:
        raise DataError(
            f"{root} has no class subfolders with images (expected {root}/<class>/<image>.png, PNG or JPEG)"
        )
    class_names = sorted({c for c, _ in files if c})
    class_index = {c: i for i, c in enumerate(class_names)}
    arrays, labels, ids, skipped, notes = [], [], [], [], decode.Notes()
    h = hashlib.sha256()
    budget = MAX_FOLDER_BYTES
    for cls, path in files:
        rel = path.relative_to(root).as_posix()
        kinds: set[str] = set()
        try:
            arr = decode.decode_image(path, size, budget, kinds)
            digest = hash_file_parts(path, rel)  # = hash_parts(rel, file bytes), streamed
        except decode.OverBudget:
            raise DataError(f"{path}: the decoded images of {root} would pass the "
                            f"{decode.size_text(MAX_FOLDER_BYTES)} limit here (after {len(arrays)} images); "
                            "make them smaller with --set data.image_size=N or use part of the folder") from None
        except Exception as err:  # PIL raises many types for broken files
            reason = str(err).split("\n")[0] or type(err).__name__
            if on_bad == "fail":
                raise DataError(f"{path} is not a readable image ({reason}); use --on-bad skip to skip it") from None
            skipped.append(f"{rel}: {reason}")
            continue
        budget -= arr.nbytes
        h.update(digest.encode())
        notes.add(kinds, rel)
        arrays.append(arr)
        labels.append(class_index[cls] if cls else -1)
        ids.append(rel)
    if not arrays:
        raise DataError(f"no readable image in {root} ({len(skipped)} broken files)")
    x = _stack(arrays, ids, root)
    y = torch.tensor(labels, dtype=torch.long) if class_names else None
    return ImageSet(x=x, y=y, ids=ids, classes=class_names, source=str(root), content_hash=h.hexdigest(),
                    skipped=skipped, notes=notes.lines(), decoder_version=decode.DECODER_VERSION)


__all__ = ["load_folder", "load_npz"]
