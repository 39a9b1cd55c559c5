"""InceptionV3 pool3 features for FID, from weights the user already has on disk.

genforge measures images with its domain extractor by default (DESIGN.md §6); this network is used
only when the user passes ``--inception-weights PATH``: a safetensors file converted once from the
``pt_inception-2015-12-05`` weights that pytorch-fid and torch-fidelity use (docs/inception-weights.md).
Nothing is downloaded, and no pickled file is ever read.

Input: images in [-1, 1], (B, C, H, W) with C in {1, 3}. Grayscale is repeated to three channels and
every image is resized to 299x299 by ``RESIZE_FILTER``, the resize pytorch-fid applies. Output: the
2048-d global average of the last block (the "pool3" features of the FID paper), (B, 2048).

Pinned hash: we publish no SHA-256 for the converted file. We could not compute one honestly (the
weights are not available here) and the converted bytes depend on the user's conversion (key order,
dropped ``fc.*``, with or without ``num_batches_tracked``). The user pins their own file with
``--inception-sha256``; without it the file's hash is still recorded in provenance.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from genforge.core.checkpoint import sha256_file
from genforge.core.errors import GenforgeError
from genforge.evaluation.inception_blocks import (
    BasicConv2d,
    InceptionA,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
)

EXTRACTOR_NAME = "inception-v3-fid-pool3"
INPUT_SIZE = 299
FEATURE_DIM = 2048
RESIZE_FILTER = "bilinear 299x299, torch.nn.functional.interpolate(align_corners=False, antialias=False)"
# The 1008-way logits head of the TF graph is in the published weights but plays no part in pool3.
IGNORED_KEYS = frozenset({"fc.weight", "fc.bias"})
# BatchNorm's step counter: absent from some conversions, never used in eval mode.
OPTIONAL_SUFFIX = ".num_batches_tracked"
DOC = "docs/inception-weights.md"


class InceptionV3(nn.Module):
    """The FID InceptionV3 up to pool3: no auxiliary head, no classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.weights_sha256: str | None = None  # set by load_inception; None = not the real weights
        # stem: 3x299x299 -> 192x35x35
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)         # 32x149x149
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)                  # 32x147x147
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)       # 64x147x147; max pool -> 64x73x73
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)                  # 80x73x73
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)                 # 192x71x71; max pool -> 192x35x35
        # 35x35 grid
        self.Mixed_5b = InceptionA(192, pool_features=32)            # 256
        self.Mixed_5c = InceptionA(256, pool_features=64)            # 288
        self.Mixed_5d = InceptionA(288, pool_features=64)            # 288
        # 17x17 grid
        self.Mixed_6a = InceptionB(288)                              # 768x17x17
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        # 8x8 grid
        self.Mixed_7a = InceptionD(768)                              # 1280x8x8
        self.Mixed_7b = InceptionE(1280, pool="avg")                 # 2048x8x8
        self.Mixed_7c = InceptionE(2048, pool="max")                 # 2048x8x8 (the FID graph's max pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x in [-1, 1], (B, 1 or 3, H, W) -> pool3 features (B, 2048)."""
        x = self.prepare(x)                                          # (B, 3, 299, 299)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))                                    # (B, 2048)

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        """Grayscale -> RGB by repetition, then the resize named by RESIZE_FILTER."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise GenforgeError(f"InceptionV3 features need images shaped (B, 1 or 3, H, W), got {tuple(x.shape)}; "
                                "use the domain extractor for other data")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        # The network sees [-1, 1], as pytorch-fid feeds it (it maps [0, 1] -> [-1, 1] itself).
        return F.interpolate(x.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                             align_corners=False, antialias=False)

    def provenance(self) -> dict:
        return {"extractor": EXTRACTOR_NAME, "sha256": self.weights_sha256, "resize": RESIZE_FILTER}


def load_inception(path: str | Path, expected_sha256: str | None = None) -> InceptionV3:
    """Build the network from a safetensors file, checked against ``expected_sha256`` when given.

    Returns it in eval mode with gradients off. Raises GenforgeError (one actionable line) on a missing
    file, a hash mismatch, a file that is not safetensors, or keys/shapes that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise GenforgeError(f"--inception-weights {path} does not exist; convert the weights once as "
                            f"described in {DOC}, or omit the flag to use the domain extractor")
    actual = sha256_file(path)
    if expected_sha256 is not None and actual != expected_sha256.strip().lower():
        raise GenforgeError(f"{path} has SHA-256 {actual}, expected {expected_sha256.strip()}; "
                            "pass the file you pinned, or update --inception-sha256 if you converted it again")
    try:
        tensors = load_file(path)
    except SafetensorError as e:
        raise GenforgeError(f"{path} is not a safetensors file ({e}); a .pth must be converted once "
                            f"as described in {DOC}") from None
    net = InceptionV3()
    net.load_state_dict(_fit_state_dict(net, tensors, path), strict=True)
    net.weights_sha256 = actual
    return net.eval().requires_grad_(False)


def _fit_state_dict(net: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Check names and shapes against ``net``; drop IGNORED_KEYS, fill absent step counters."""
    own = net.state_dict()
    tensors = {k: v for k, v in tensors.items() if k not in IGNORED_KEYS}
    missing = [k for k in own if k not in tensors and not k.endswith(OPTIONAL_SUFFIX)]
    unexpected = [k for k in tensors if k not in own]
    if missing:
        raise GenforgeError(f"{path} lacks '{missing[0]}' ({len(missing)} InceptionV3 tensors missing); "
                            f"it is not the FID InceptionV3 state dict, see {DOC}")
    if unexpected:
        raise GenforgeError(f"{path} has unexpected tensor '{unexpected[0]}' ({len(unexpected)} in all); "
                            f"keys must be torchvision/pytorch-fid names, see {DOC}")
    for k, v in tensors.items():
        if v.shape != own[k].shape:
            raise GenforgeError(f"{path}: '{k}' has shape {tuple(v.shape)}, expected {tuple(own[k].shape)}; "
                                f"it is not the FID InceptionV3 (pt_inception-2015-12-05), see {DOC}")
    return {**{k: own[k] for k in own if k.endswith(OPTIONAL_SUFFIX)}, **tensors}
