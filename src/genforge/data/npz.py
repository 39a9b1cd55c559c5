""".npz user data: x (images), optional y (labels), read without pickle and bounded before allocation.

The zip directory and each member's .npy header are read first (a few KiB); every declared size is
checked against the limits below and against the zip directory before a byte of data is inflated.
Only 'x' and 'y' are ever read. The dtype and label rules are stated in docs/user-guide.md, "Data
limits and image decoding".
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy
import torch

from genforge.core.errors import DataError
from genforge.data import decode
from genforge.data.decode import size_text
from genforge.data.imageset import ImageSet, hash_file_parts

MAX_NPZ_FILE_BYTES = 16 << 30
MAX_ZIP_DIRECTORY_BYTES = 1 << 20  # an .npz holds a few arrays; a huge directory is a memory bomb
MAX_ARRAY_BYTES = 4 << 30  # 'x' as stored: declared shape x item size
MAX_ITEMS = 10_000_000  # images in one .npz
MAX_SIDE = 8192  # height or width of an .npz image
MAX_CLASSES = 10_000  # distinct labels in 'y'
_NPY_HEADER_BYTES = 65_536  # read at most this much of a member to parse its .npy header
_CHUNK_ELEMENTS = 1 << 22  # conversion works on slices this big, so temporaries stay small
X_EXPECTED = "expected uint8, uint16, bool, integers in 0..255 or float in [0, 1]"


def _check_container(path: Path) -> None:
    """A zip archive of bounded size whose directory is small enough to read (before ZipFile reads it)."""
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # np.load would otherwise try to unpickle a non-zip file
            raise DataError(f"{path} is not a readable .npz file (not a zip archive)")
        size = os.fstat(f.fileno()).st_size
        if size > MAX_NPZ_FILE_BYTES:
            raise DataError(f"{path} is {size_text(size)}, over the {size_text(MAX_NPZ_FILE_BYTES)} limit "
                            "for an .npz file; split the data")
        end = zipfile._EndRecData(f)  # the routine ZipFile itself uses, so both read the same directory
    if end is None:
        raise DataError(f"{path} is not a readable .npz file (no zip directory)")
    if end[zipfile._ECD_SIZE] > MAX_ZIP_DIRECTORY_BYTES:
        raise DataError(f"{path}: its zip directory is {end[zipfile._ECD_SIZE]:,} bytes, over the "
                        f"{size_text(MAX_ZIP_DIRECTORY_BYTES)} limit (an .npz holds a few arrays); save only x and y")


def _member(zf: zipfile.ZipFile, key: str) -> zipfile.ZipInfo | None:
    names = zf.namelist()  # the same lookup as np.load: "x", else "x.npy"
    name = key if key in names else f"{key}.npy" if f"{key}.npy" in names else None
    return None if name is None else zf.getinfo(name)


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the member's .npy header, read from its first bytes only."""
    if info.file_size > MAX_ARRAY_BYTES + _NPY_HEADER_BYTES:  # zip bomb: refused before inflating
        raise DataError(f"{path}: '{key}' unpacks to {size_text(info.file_size)}, over the "
                        f"{size_text(MAX_ARRAY_BYTES)} limit for one array; split the data")
    with zf.open(info) as f:
        head = io.BytesIO(f.read(_NPY_HEADER_BYTES))
    version = npy.read_magic(head)
    if version not in ((1, 0), (2, 0)):
        raise DataError(f"{path}: '{key}' has .npy format version {version[0]}.{version[1]}; save it with numpy.savez")
    read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, _fortran, dtype = read(head)
    if any(d < 0 for d in shape):
        raise DataError(f"{path} is not a readable .npz file ('{key}' declares shape {shape})")
    if dtype.hasobject:
        raise DataError(f"{path}: '{key}' has dtype {dtype}, which cannot be loaded without pickle; "
                        "save plain numeric arrays")
    if dtype.kind not in "biuf":  # complex, structured, string, datetime
        raise DataError(f"{path}: '{key}' has dtype {dtype}; " + (X_EXPECTED if key == "x" else "expected integer labels"))
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    if key == "x":
        _check_x_shape(shape, dtype, nbytes, path)
    if info.file_size != head.tell() + nbytes:
        raise DataError(f"{path}: '{key}' declares shape {shape} {dtype} ({nbytes:,} bytes) but its zip member "
                        f"holds {info.file_size - head.tell():,}; the file is damaged, save it again")
    return shape, dtype


def _layout(shape: tuple[int, ...], path: Path) -> tuple[int, int, int, int, bool]:
    """(N,H,W), (N,H,W,C) or (N,C,H,W) with C in {1,3} -> (N, C, H, W, channels_last)."""
    if len(shape) == 3:
        return shape[0], 1, shape[1], shape[2], False
    if len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3):
        return shape[0], shape[3], shape[1], shape[2], True
    if len(shape) == 4 and shape[1] in (1, 3):
        return shape[0], shape[1], shape[2], shape[3], False
    raise DataError(f"{path}: 'x' has shape {shape}; expected (N,H,W), (N,H,W,C) or (N,C,H,W) with C = 1 or 3")


def _check_x_shape(shape: tuple[int, ...], dtype: np.dtype, nbytes: int, path: Path) -> None:
    n, _c, h, w, _last = _layout(shape, path)
    if n == 0 or h == 0 or w == 0:
        raise DataError(f"{path}: 'x' has shape {shape}, which holds no pixels; save at least one non-empty image")
    if n > MAX_ITEMS:
        raise DataError(f"{path}: 'x' declares {n:,} images, over the limit of {MAX_ITEMS:,}; split the data")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise DataError(f"{path}: 'x' declares {w}x{h} images, over the limit of {MAX_SIDE} pixels a side; resize them")
    if nbytes > MAX_ARRAY_BYTES:
        raise DataError(f"{path}: 'x' declares {shape} {dtype} = {size_text(nbytes)}, over the "
                        f"{size_text(MAX_ARRAY_BYTES)} limit; split the data"
                        + (" or store it as uint8" if dtype.itemsize > 1 else ""))


def _check_x_values(x: np.ndarray, path: Path) -> None:
    """The whole value range against the dtype rules; min and max only, so no full-size temporary."""
    lo, hi = x.min(), x.max()  # NaN propagates into both
    if x.dtype.kind == "f" and not (np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= 1):
        found = f"{lo:.3g}..{hi:.3g}" if np.isfinite(lo) and np.isfinite(hi) else "NaN or infinite values"
        raise DataError(f"{path}: float 'x' must be finite and in [0, 1] (found {found}); "
                        "divide by 255 if it holds 0..255")
    if x.dtype.kind in "iu" and x.dtype != np.uint16 and (lo < 0 or hi > 255):
        raise DataError(f"{path}: 'x' is {x.dtype} with values {lo}..{hi}; integer 'x' other than uint16 must be "
                        "in 0..255 (save uint8, or float in [0, 1])")


def _chunk_to_uint8(c: np.ndarray) -> np.ndarray:
    if c.dtype.kind == "f":
        return np.rint(c.astype(np.float64) * 255)
    if c.dtype.kind == "b":
        return c.astype(np.uint8) * np.uint8(255)
    if c.dtype == np.uint16:
        return (c.astype(np.uint32) + 128) // 257  # round(v*255/65535); no ties exist
    return c  # other integers, already checked to lie in 0..255


def _x_to_uint8(x: np.ndarray, path: Path) -> tuple[np.ndarray, str | None]:
    """x (N, C, H, W), any strides -> contiguous uint8, converted in slices so temporaries stay small."""
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x), None
    _check_x_values(x, path)
    out = np.empty(x.shape, np.uint8)
    step = max(1, _CHUNK_ELEMENTS // x[0].size)
    lossy = False
    for i in range(0, len(x), step):
        out[i : i + step] = _chunk_to_uint8(x[i : i + step])
        lossy = lossy or (x.dtype == np.uint16 and bool((x[i : i + step] % 257).any()))
    if not lossy:  # uint16 values that are all multiples of 257 are 8-bit values: nothing is lost
        return out, None
    small = " (all its values are <= 255: if they are 8-bit values, save x as uint8)" if x.max() <= 255 else ""
    return out, f"{path.name}: 'x' is uint16 and was reduced to 8 bits (value*255/65535, rounded){small}"


def _labels(y: np.ndarray, n: int, path: Path) -> tuple[np.ndarray, list[str]]:
    """Any integer labels -> (index into classes, classes = the sorted distinct values as strings)."""
    assert y.shape == (n,) and y.dtype.kind in "biuf", (y.shape, y.dtype)  # checked in its header
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.floor(y)).all()):
        raise DataError(f"{path}: 'y' is {y.dtype} with values that are not whole numbers; labels must be integers")
    if y.min() < 0:
        raise DataError(f"{path}: 'y' has negative labels (min {y.min()}); labels must be integers >= 0 "
                        "(leave 'y' out for unlabelled data)")
    values, index = np.unique(y, return_inverse=True)
    if len(values) > MAX_CLASSES:
        raise DataError(f"{path}: 'y' has {len(values):,} distinct labels, over the limit of {MAX_CLASSES:,} classes")
    return index.reshape(-1).astype(np.int64), [str(int(v)) for v in values]


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """x and y after their headers passed every bound; nothing else in the archive is read."""
    with zipfile.ZipFile(path) as zf:
        members = {k: _member(zf, k) for k in ("x", "y")}
        if members["x"] is None:
            found = ", ".join(n.removesuffix(".npy") for n in zf.namelist()) or "nothing"
            raise DataError(f"{path} has no array 'x' (found: {found})")
        x_shape, _ = _header(zf, members["x"], path, "x")
        if members["y"] is not None:
            y_shape, _ = _header(zf, members["y"], path, "y")
            if y_shape != (x_shape[0],):
                raise DataError(f"{path}: 'y' has shape {y_shape}; expected ({x_shape[0]},), one label per image")
        arrays = {}
        for key, info in members.items():
            if info is not None:
                with zf.open(info) as f:
                    arrays[key] = npy.read_array(f, allow_pickle=False)
    return arrays["x"], arrays.get("y")


def load_npz(path: Path, size: int | None) -> ImageSet:
    try:
        _check_container(path)
        x, y = _read_npz(path)
    except (DataError, MemoryError):
        raise
    except Exception as err:  # zipfile, zlib, lzma and numpy's header parser raise many types
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path} is not a readable .npz file ({reason})") from None
    n, c, h, w, channels_last = _layout(x.shape, path)
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2) if channels_last else x
    x8, note = _x_to_uint8(x, path)
    del x
    yi, classes = _labels(y, n, path) if y is not None else (None, [])
    xt = torch.from_numpy(x8)
    if size is not None and tuple(xt.shape[-2:]) != (size, size):
        from genforge.data.transforms import resize

        xt = resize(xt, size)
    try:
        digest = hash_file_parts(path)
    except OSError as err:
        raise DataError(f"{path} is not a readable .npz file ({err})") from None
    return ImageSet(
        x=xt,
        y=None if yi is None else torch.from_numpy(yi),
        ids=[f"{path.name}/{i:07d}" for i in range(len(xt))],
        classes=classes,
        source=str(path),
        content_hash=digest,
        notes=[note] if note else [],
        decoder_version=decode.DECODER_VERSION,
    )
