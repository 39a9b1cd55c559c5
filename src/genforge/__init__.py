"""genforge: your data in; a trained, measured, deployable generative model out.

Importing this package loads no data, starts no threads and touches no files. The public
functions import their machinery on first call.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "train", "load"]


def train(*args, **kwargs):
    """Train a generator; see :func:`genforge.api.train`."""
    from genforge.api import train as _train

    return _train(*args, **kwargs)


def load(*args, **kwargs):
    """Load a trained run for sampling; see :func:`genforge.api.load`."""
    from genforge.api import load as _load

    return _load(*args, **kwargs)
