"""`genforge data inspect`: what is in a dataset before anyone trains on it.

Counts per class, shape, value range, broken files, exact duplicates (same pixels) and near
duplicates (64-bit difference hash within a small Hamming distance). Duplicates distort training
and the memorisation check, so they are worth finding first.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
from PIL import Image

from genforge.data.imageset import ImageSet
from genforge.data.prepare import load_images
from genforge.data.split import split_indices

NEAR_DUPLICATE_BITS = 4  # dHash Hamming distance at or below which two images are near duplicates


def dhash(img: np.ndarray) -> int:
    """Difference hash (64 bits): a 9x8 grayscale thumbnail, one bit per horizontal gradient sign."""
    gray = img.mean(axis=0).astype(np.uint8) if img.shape[0] > 1 else img[0]
    small = np.asarray(Image.fromarray(gray).resize((9, 8), Image.Resampling.BILINEAR), dtype=np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def exact_duplicates(data: ImageSet) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for item_id, img in zip(data.ids, data.x.numpy()):
        groups[hashlib.sha256(img.tobytes()).hexdigest()].append(item_id)
    return [g for g in groups.values() if len(g) > 1]


def near_duplicates(data: ImageSet, max_bits: int = NEAR_DUPLICATE_BITS, limit: int = 1000) -> list[tuple[str, str, int]]:
    """Pairs (id_a, id_b, distance) of different-pixel images whose dHashes differ in ≤ max_bits bits."""
    imgs = data.x.numpy()
    hashes = np.array([dhash(im) for im in imgs], dtype=np.uint64)
    digests = [hashlib.sha256(im.tobytes()).digest() for im in imgs]
    pairs = []
    as_bytes = hashes.view(np.uint8).reshape(-1, 8)
    for i in range(len(hashes) - 1):
        x = np.bitwise_xor(as_bytes[i + 1 :], as_bytes[i])
        dist = np.unpackbits(x, axis=1).sum(axis=1)
        for j in np.nonzero(dist <= max_bits)[0]:
            k = i + 1 + int(j)
            if digests[i] != digests[k]:
                pairs.append((data.ids[i], data.ids[k], int(dist[j])))
                if len(pairs) >= limit:
                    return pairs
    return pairs


def inspect(name: str, image_size: int | None = None, split_seed: int = 0, val_fraction: float = 0.1,
            test_fraction: float = 0.1) -> dict:
    data = load_images(name, image_size, on_bad="skip")
    x = data.x
    parts = split_indices(data.ids, split_seed, val_fraction, test_fraction)
    return {
        "source": data.source,
        "items": len(data),
        "shape": list(x.shape[1:]),
        "channels": int(x.shape[1]),
        "classes": data.counts(),
        "value_range": {"min": int(x.min()), "max": int(x.max()), "mean": round(float(x.float().mean()), 2)},
        "splits": {s: len(v) for s, v in parts.items()},
        "broken": data.skipped,
        "notes": data.notes,
        "exact_duplicates": exact_duplicates(data),
        "near_duplicates": near_duplicates(data),
        "content_hash": data.content_hash,
    }


def format_report(r: dict) -> str:
    lines = [f"{r['source']}: {r['items']} images, shape {tuple(r['shape'])} (C, H, W), "
             f"values {r['value_range']['min']}..{r['value_range']['max']} (mean {r['value_range']['mean']})",
             "splits: " + ", ".join(f"{k} {v}" for k, v in r["splits"].items()),
             "classes:"]
    total = max(r["items"], 1)
    for cls, n in r["classes"].items():
        lines.append(f"  {cls:>12}  {n:6d}  {100 * n / total:5.1f}%")
    lines.append(f"broken files: {len(r['broken'])}")
    lines += [f"  {b}" for b in r["broken"][:20]]
    lines += [f"note: {n}" for n in r["notes"]]
    dup_items = sum(len(g) for g in r["exact_duplicates"])
    lines.append(f"exact duplicates: {len(r['exact_duplicates'])} groups ({dup_items} images)")
    lines += [f"  {', '.join(g[:5])}{' ...' if len(g) > 5 else ''}" for g in r["exact_duplicates"][:10]]
    lines.append(f"near duplicates (dHash distance ≤ {NEAR_DUPLICATE_BITS}): {len(r['near_duplicates'])} pairs")
    lines += [f"  {a} ~ {b} (distance {d})" for a, b, d in r["near_duplicates"][:10]]
    lines.append(f"content hash: {r['content_hash']}")
    return "\n".join(lines)


__all__ = ["inspect", "format_report", "dhash", "exact_duplicates", "near_duplicates"]
