"""One image file -> 8-bit grayscale or RGB pixels, by a stated rule for every Pillow mode.

Conversions that lose information (16-bit depth, transparency, CMYK, ...) are not errors: each
decode adds its kinds of loss to a set, and ``Notes`` reports them once per dataset with the first
file. The rules are stated in docs/user-guide.md, "Data limits and image decoding".
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Enters DataInfo.prep_hash of every file-based dataset (folders and .npz): bump it whenever decoding
# changes a pixel, so runs trained on differently decoded data are never compared as if they saw the
# same data. 1: convert("L"/"RGB"), which clipped 16-bit images to a mask. 2: the rules below.
DECODER_VERSION = 2

MAX_PIXELS = 50_000_000  # per image; larger files are rejected as decompression bombs
MAX_IMAGE_FILE_BYTES = 1 << 30  # per image file (it is read whole for the content hash, in chunks)
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_WIDE_RAWMODE = re.compile(r"RGB[AX]?;16[BLN]")  # 16 bits per colour sample (not BMP's 5-6-5 "BGR;16")

NOTES = {  # kind -> what happened to "{n} image(s)", reported with the first file
    "depth16": "{were} 16-bit and {were} reduced to 8 bits (value*255/65535, rounded)",
    "depth16_rgb": "{were} 16-bit colour and {were} reduced to 8 bits by Pillow (high byte kept)",
    "int_range": "{were} 32-bit integer outside 0..65535 and {were} rescaled per image from min..max to 0..255",
    "float_range": "{were} floating point outside [0, 1] and {were} rescaled per image from min..max to 0..255",
    "alpha": "had transparency and {were} composited onto black (alpha dropped)",
    "cmyk": "{were} CMYK and {were} converted to RGB without a colour profile",
    "frames": "had several frames; only the first was used",
}


def size_text(n: int) -> str:
    return f"{n / 2**30:.3g} GiB" if n >= 2**30 else f"{n / 2**20:.3g} MiB" if n >= 2**20 else f"{n:,} bytes"


class Notes:
    """Lossy conversions, counted per kind with the first file, reported once per dataset."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.first: dict[str, str] = {}

    def add(self, kinds: set[str], where: str) -> None:
        for k in kinds:
            self.count[k] += 1
            self.first.setdefault(k, where)

    def lines(self) -> list[str]:
        return [f"{n} image{'s' if n != 1 else ''} " + NOTES[k].format(were="were" if n != 1 else "was")
                + f" (first: {self.first[k]})" for k, n in sorted(self.count.items())]


class OverBudget(Exception):
    """Decoding would pass the caller's byte budget; not a bad file, so never skipped."""


def _from_16bit(a: np.ndarray, kinds: set[str]) -> np.ndarray:
    a = a.astype(np.uint32)
    if (a % 257).any():  # v = 257*k is an 8-bit value stored in 16 bits: nothing is lost
        kinds.add("depth16")
    return ((a + 128) // 257).astype(np.uint8)  # round(v*255/65535); no ties exist


def _min_max(a: np.ndarray, kind: str, kinds: set[str]) -> np.ndarray:
    kinds.add(kind)
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:
        return np.zeros(a.shape, np.uint8)
    return np.rint((a.astype(np.float64) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _composite_on_black(a: np.ndarray, kinds: set[str], premultiplied: bool) -> np.ndarray:
    """(H, W, C+1) colour + alpha -> (H, W, C): c*alpha/255 rounded, i.e. over a black background."""
    colour, alpha = a[..., :-1].astype(np.uint16), a[..., -1:].astype(np.uint16)
    if (alpha < 255).any():
        kinds.add("alpha")
    out = colour if premultiplied else (colour * alpha + 127) // 255  # no ties: 255 is odd
    return out.astype(np.uint8)


def _gray_if_equal(rgb: np.ndarray) -> np.ndarray:
    """A palette image whose colours are all gray is grayscale."""
    same = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    return rgb[..., 0] if same else rgb


def _pixels(img: Image.Image, kinds: set[str]) -> np.ndarray:
    """Any PIL mode -> uint8 (H, W) or (H, W, 3) by the documented rules; `kinds` collects losses."""
    palette = img.mode in ("P", "PA")
    if palette:
        img = img.convert("RGBA" if img.mode == "PA" or "transparency" in img.info else "RGB")
    elif "transparency" in img.info and img.mode in ("1", "L", "RGB"):  # a tRNS chunk -> an alpha band
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
    arr = _mode_pixels(img, kinds)
    return _gray_if_equal(arr) if palette else arr


def _mode_pixels(img: Image.Image, kinds: set[str]) -> np.ndarray:
    mode = img.mode
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"))
    if mode.startswith("I;16"):
        return _from_16bit(np.asarray(img), kinds)
    if mode == "I":  # 32-bit: 0..65535 is taken as 16-bit data, anything else is rescaled
        a = np.asarray(img)
        return _from_16bit(a, kinds) if a.min() >= 0 and a.max() <= 65535 else _min_max(a, "int_range", kinds)
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("NaN or infinite pixel values")
        return np.rint(a * 255).astype(np.uint8) if a.min() >= 0 and a.max() <= 1 else _min_max(a, "float_range", kinds)
    if mode in ("LA", "La", "RGBA", "RGBa"):  # "La"/"RGBa" are premultiplied: already over black
        out = _composite_on_black(np.asarray(img), kinds, premultiplied=mode.endswith("a"))
        return out[..., 0] if mode.startswith("L") else out
    if mode == "CMYK":
        kinds.add("cmyk")
    return np.asarray(img.convert("RGB"))  # RGB, RGBX, YCbCr, LAB, HSV, CMYK; others raise ValueError


def _rawmode(args: object) -> object:
    return args[0] if isinstance(args, tuple) and args else args


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as viewers do; unreadable EXIF leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # malformed metadata is no reason to refuse decodable pixels
        return img


def decode_image(path: Path, size: int | None, budget: int, kinds: set[str]) -> np.ndarray:
    """One image file -> uint8 (H, W) or (H, W, 3); center-crop + Lanczos resize when size is set."""
    file_bytes = path.stat().st_size
    if file_bytes > MAX_IMAGE_FILE_BYTES:
        raise ValueError(f"the file is {size_text(file_bytes)}, over the {size_text(MAX_IMAGE_FILE_BYTES)} limit per image")
    with Image.open(path) as img:
        if img.width * img.height > MAX_PIXELS:
            raise ValueError(f"{img.width}x{img.height} pixels is over the {MAX_PIXELS} limit")
        need = (size * size if size else img.width * img.height) * (1 if img.mode in GRAY_MODES else 3)
        if need > budget:
            raise OverBudget
        if getattr(img, "n_frames", 1) > 1:
            kinds.add("frames")
        if img.tile and _WIDE_RAWMODE.fullmatch(str(_rawmode(img.tile[0].args))):
            kinds.add("depth16_rgb")  # 48/64-bit PNG or TIFF: Pillow keeps the high byte
        img.load()
        arr = _pixels(_upright(img), kinds)
    if size is not None:
        img = Image.fromarray(arr)
        side = min(img.width, img.height)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if side != size:
            img = img.resize((size, size), Image.Resampling.LANCZOS)
        arr = np.asarray(img)
    return np.ascontiguousarray(arr, dtype=np.uint8)
