"""What makes a checkpoint intact: the manifest rules, bounded reads of its JSON files, finite selection values.

A checkpoint is trusted only after ``verify``: every entry of MANIFEST.json is a plain file name of a
regular file inside the checkpoint directory, every file present is listed, sizes are bounded before
anything is hashed, every SHA-256 matches and state.json names the step. Anything else is corruption
(docs/run-format.md, "The manifest rules").
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genforge.core.errors import CheckpointError
from genforge.core.jsonfile import read_json_object, regular_file_size

MANIFEST = "MANIFEST.json"
STATE = "state.json"
MAX_MANIFEST_BYTES = 1 << 20  # a manifest lists a handful of files; anything bigger is not ours
MAX_STATE_BYTES = 64 << 20  # state.json: RNG states and small dicts (~40 KB in practice)
MAX_FILE_BYTES = 64 << 30  # bound on any one file before it is hashed (weights of the largest model we train)
_HEX = set("0123456789abcdef")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path

    def state(self) -> dict[str, Any]:
        """state.json, read with a size bound and checked to be an object whose ``step`` names this checkpoint."""
        return read_state(self)


CORRUPT = "; the checkpoint is corrupt"


def _json_object(path: Path, limit: int) -> dict[str, Any]:
    """A checkpoint's JSON file: a regular file (no symlink), bounded, an object; CheckpointError otherwise."""
    return read_json_object(path, limit, CheckpointError, follow_links=False, hint=CORRUPT)


def read_state(ckpt: Checkpoint) -> dict[str, Any]:
    state = _json_object(ckpt.path / STATE, MAX_STATE_BYTES)
    if state.get("step") != ckpt.step or isinstance(state.get("step"), bool):
        raise CheckpointError(f"{ckpt.path / STATE} says step {state.get('step')!r}, not {ckpt.step}; the checkpoint is corrupt")
    return state


def finite_number(value: Any) -> float | None:
    """A JSON value as a finite float, or None (missing, NaN, ±inf, a string, a bool): never "best"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _manifest_entries(ckpt: Checkpoint) -> tuple[dict[str, str], dict[str, int]]:
    """MANIFEST.json -> ({file: sha256}, {file: size}); CheckpointError for any shape but ours."""
    path = ckpt.path / MANIFEST
    manifest = _json_object(path, MAX_MANIFEST_BYTES)
    files, sizes = manifest.get("files"), manifest.get("sizes", {})
    if not isinstance(files, dict) or not files or not isinstance(sizes, dict):
        raise CheckpointError(f"{path} lists no files; the checkpoint is corrupt")
    if manifest.get("step") != ckpt.step:
        raise CheckpointError(f"{path} describes step {manifest.get('step')!r}, not {ckpt.step}; the checkpoint is corrupt")
    for name, digest in files.items():
        plain = name not in ("", ".", "..", MANIFEST) and "/" not in name and "\\" not in name and "\0" not in name
        if not plain:
            raise CheckpointError(f"{path} lists {name!r}, which is not a plain file name in the checkpoint; the manifest is corrupt")
        if not (isinstance(digest, str) and len(digest) == 64 and set(digest) <= _HEX):
            raise CheckpointError(f"{path}: the SHA-256 of {name!r} is malformed; the manifest is corrupt")
        size = sizes.get(name)
        if name in sizes and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise CheckpointError(f"{path}: the size of {name!r} is malformed; the manifest is corrupt")
    if set(sizes) - set(files):
        raise CheckpointError(f"{path} gives sizes for unlisted files; the manifest is corrupt")
    if STATE not in files:
        raise CheckpointError(f"{path} does not list {STATE}; the checkpoint is corrupt")
    return files, sizes


def verify(ckpt: Checkpoint) -> None:
    """Check the checkpoint against MANIFEST.json; raise CheckpointError naming the first problem.

    The rules (docs/run-format.md): entries are plain names of regular files (checked with lstat: no
    symlinks) in the checkpoint directory; every file present except MANIFEST.json is listed and every
    listed file exists; sizes are bounded (and must equal the recorded ones) before anything is hashed;
    each SHA-256 matches; state.json is an object naming this step. Anything else is corruption.
    """
    files, sizes = _manifest_entries(ckpt)
    try:
        present = {p.name for p in ckpt.path.iterdir()} - {MANIFEST}
    except OSError as err:
        raise CheckpointError(f"{ckpt.path} cannot be listed ({err.strerror or err})") from None
    extra = sorted(present - set(files))
    if extra:
        raise CheckpointError(f"{ckpt.path / extra[0]} is not listed in MANIFEST.json; the checkpoint was altered")
    for fname in sorted(files):
        path = ckpt.path / fname
        size = regular_file_size(path, MAX_FILE_BYTES, CheckpointError, follow_links=False, hint=CORRUPT)
        if fname in sizes and size != sizes[fname]:
            raise CheckpointError(f"{path} is {size} bytes but MANIFEST.json recorded {sizes[fname]} (truncated or altered)")
        if sha256_file(path) != files[fname]:
            raise CheckpointError(f"{path} does not match its SHA-256 in MANIFEST.json (truncated or altered)")
    read_state(ckpt)
