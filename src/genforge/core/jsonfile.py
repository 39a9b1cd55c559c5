"""Reading a small JSON object from a file that anyone could have edited: the one bounded reader.

Checked before anything is opened: the path is a regular file (a FIFO would block the read, a device
never end) of at most ``limit`` bytes. Then it must parse, and hold an object. Every failure is one
line of the caller's error class, naming the file and ending with the caller's ``hint``.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from genforge.core.errors import GenforgeError


def regular_file_size(path: Path, limit: int, error: type[GenforgeError] = GenforgeError, follow_links: bool = True,
                      hint: str = "") -> int:
    """The size of ``path`` if it is a regular file of at most ``limit`` bytes. ``follow_links=False`` also
    refuses a symlink (checkpoint files: nothing outside their directory is ever read)."""
    try:
        st = os.stat(path) if follow_links else os.lstat(path)
    except OSError:
        raise error(f"{path} is missing (the file does not exist){hint}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a folder or device" if follow_links else "a link, folder or device"
        raise error(f"{path} is not a regular file ({kind}){hint}")
    if st.st_size > limit:
        raise error(f"{path} is {st.st_size} bytes, larger than the {limit}-byte limit for this file{hint}")
    return st.st_size


def read_json_object(path: Path, limit: int, error: type[GenforgeError] = GenforgeError, follow_links: bool = True,
                     hint: str = "") -> dict[str, Any]:
    path = Path(path)
    regular_file_size(path, limit, error, follow_links, hint)
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read(limit + 1).decode("utf-8"))
    except OSError as err:
        raise error(f"{path} cannot be read ({err.strerror or err}){hint}") from None
    except (ValueError, RecursionError) as err:  # bad UTF-8, bad JSON, nesting deep enough to exhaust the stack
        reason = str(err).splitlines()[0][:80] if str(err) else type(err).__name__
        raise error(f"{path} is not valid JSON ({reason}){hint}") from None
    if not isinstance(obj, dict):
        raise error(f"{path} is not a JSON object (found {type(obj).__name__}){hint}")
    return obj
