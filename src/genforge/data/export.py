"""Writing generated images: a PNG grid with provenance tEXt chunks, an .npz, or an image folder (one subfolder
per class, loadable again as a dataset)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genforge.core.errors import GenforgeError


def save_samples(images: torch.Tensor, out: Path, text: dict[str, str], labels: torch.Tensor | None,
                 nrow: int | None = None, classes: list[str] | tuple[str, ...] | None = None) -> Path:
    """PNG grid (with tEXt provenance), .npz (x uint8 NHWC, y), or an image folder (a path without suffix)."""
    out = Path(out)
    try:
        return _save_samples(images, out, text, labels, nrow, classes)
    except OSError as err:
        raise GenforgeError(f"cannot write {out} ({err.strerror or err}); choose another --out") from None


def _save_samples(images, out: Path, text, labels, nrow, classes) -> Path:
    from genforge.core.images import make_grid, save_png

    if out.suffix == "":
        return _save_folder(images, out, text, labels, classes)
    if out.suffix.lower() == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"x": images.permute(0, 2, 3, 1).numpy()}
        if labels is not None:
            arrays["y"] = labels.numpy()
        tmp = out.with_name(out.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(out)
        return out
    if out.suffix.lower() != ".png":
        raise GenforgeError(f"--out must end in .png or .npz, or be a folder without a suffix; got '{out.name}'")
    nrow = nrow or max(int(np.ceil(np.sqrt(len(images)))), 1)
    save_png(make_grid(images, nrow), out, text, scale=2)
    return out


def check_new_folder(out: Path) -> None:
    """An image-folder --out must be new or empty: genforge never mixes its files into a user's folder."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenforgeError(f"{out} already exists and is not an empty folder; choose another --out")


def _save_folder(images: torch.Tensor, out: Path, text: dict[str, str], labels: torch.Tensor | None,
                 classes) -> Path:
    """One PNG per image, in one subfolder per class (loadable again as a dataset); written aside, then renamed in."""
    import shutil

    from genforge.core.images import save_png

    check_new_folder(out)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for i, img in enumerate(images):
        sub = tmp if labels is None else tmp / (classes[int(labels[i])] if classes else str(int(labels[i])))
        save_png(img, sub / f"{i:06d}.png", text)
    if out.exists():
        out.rmdir()
    tmp.rename(out)
    return out
