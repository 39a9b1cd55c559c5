"""User data from disk: an image folder (one subfolder per class) or an .npz file (x, optional y).

Every file is bounded and checked; a bad one is reported by name and skipped or rejected
(``on_bad``). Nothing here unpickles: ``np.load`` runs with ``allow_pickle=False``.
"""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genforge.core.errors import DataError
from genforge.data.imageset import ImageSet, hash_parts

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # per image; larger files are rejected as decompression bombs
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _decode(path: Path, size: int | None) -> np.ndarray:
    """One image file -> uint8 (H, W) or (H, W, 3); center-crop + Lanczos resize when size is set."""
    with Image.open(path) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"{img.width}x{img.height} pixels is over the {MAX_PIXELS} limit")
        img.load()
        img = img.convert("L" if img.mode in GRAY_MODES else "RGB")
        if size is not None:
            side = min(img.width, img.height)
            left, top = (img.width - side) // 2, (img.height - side) // 2
            img = img.crop((left, top, left + side, top + side))
            if side != size:
                img = img.resize((size, size), Image.Resampling.LANCZOS)
        return np.asarray(img, dtype=np.uint8).copy()


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _stack(arrays: list[np.ndarray], names: list[str], size: int | None) -> torch.Tensor:
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
    arrays, labels, ids, skipped = [], [], [], []
    h = hashlib.sha256()
    for cls, path in files:
        rel = path.relative_to(root).as_posix()
        try:
            arr = _decode(path, size)
        except Exception as err:  # PIL raises many types for broken files
            reason = str(err).split("\n")[0] or type(err).__name__
            if on_bad == "fail":
                raise DataError(f"{path} is not a readable image ({reason}); use --on-bad skip to skip it") from None
            skipped.append(f"{rel}: {reason}")
            continue
        h.update(hash_parts(rel, path.read_bytes()).encode())
        arrays.append(arr)
        labels.append(class_names.index(cls) if cls else -1)
        ids.append(rel)
    if not arrays:
        raise DataError(f"no readable image in {root} ({len(skipped)} broken files)")
    x = _stack(arrays, ids, size)
    y = torch.tensor(labels, dtype=torch.long) if class_names else None
    return ImageSet(x=x, y=y, ids=ids, classes=class_names, source=str(root), content_hash=h.hexdigest(), skipped=skipped)


def _npz_images(x: np.ndarray, path: Path) -> np.ndarray:
    """Accept (N,H,W), (N,H,W,C) or (N,C,H,W) with C in {1,3}; uint8 or float in [0,1]."""
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"{path}: 'x' has shape {x.shape}; expected (N,H,W), (N,H,W,C) or (N,C,H,W) with C = 1 or 3")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{path}: 'x' has dtype {x.dtype}; expected uint8 or float in [0, 1]")
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise DataError(f"{path}: float 'x' must be finite and in [0, 1] (found {np.nanmin(x):.3g}..{np.nanmax(x):.3g})")
    return np.rint(x * 255).astype(np.uint8)


def load_npz(path: Path, size: int | None) -> ImageSet:
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # np.load would otherwise try to unpickle a non-zip file
            raise DataError(f"{path} is not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "x" not in f.files:
                raise DataError(f"{path} has no array 'x' (found: {', '.join(f.files) or 'nothing'})")
            x, y = f["x"], (f["y"] if "y" in f.files else None)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"{path} is not a readable .npz file ({err})") from None
    except ValueError as err:
        raise DataError(f"{path}: cannot load without pickle ({err}); save plain numeric arrays") from None
    x = _npz_images(x, path)
    if y is not None:
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DataError(f"{path}: 'y' must be non-negative integers of shape ({len(x)},), got {y.dtype} {y.shape}")
    xt = torch.from_numpy(np.ascontiguousarray(x))
    if size is not None and xt.shape[-1] != size:
        from genforge.data.transforms import resize

        xt = resize(xt, size)
    classes = [str(i) for i in range(int(y.max()) + 1)] if y is not None and len(y) else []
    return ImageSet(
        x=xt,
        y=None if y is None else torch.from_numpy(y.astype(np.int64)),
        ids=[f"{path.name}/{i:07d}" for i in range(len(xt))],
        classes=classes,
        source=str(path),
        content_hash=hash_parts(path.read_bytes()),
    )
