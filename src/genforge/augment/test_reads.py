"""The test split of `genforge augment`, behind a guard: read only after the recipe is fixed, and every read logged.

Knobs are chosen on the validation split. The guard makes that a property of the code, not a promise:
``read`` raises until ``lock`` has been called with the chosen recipes, refuses a recipe that was not
chosen, and refuses a second read of the same (recipe, seed). Each read is appended to
``RUN/augment/test-reads.jsonl`` (never truncated, also not by a rerun), so "measured once on test"
can be checked after the fact.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from genforge.data.imageset import ImageSet


class TestReadError(RuntimeError):
    """A test read that would let the test split choose a setting: a bug, never a user error."""

    __test__ = False  # not a pytest class


class TestReads:
    __test__ = False  # not a pytest class

    def __init__(self, test: ImageSet, log_path: Path, session: dict) -> None:
        self._test, self.log_path, self.session = test, Path(log_path), session
        self._chosen: set[str] | None = None
        self._done: set[tuple[str, int]] = set()

    def lock(self, recipes) -> None:
        """Fix the recipes that may be measured on test (the validation search is over)."""
        self._chosen = {json.dumps(r.to_json(), sort_keys=True) for r in recipes}

    def read(self, recipe, seed: int) -> ImageSet:
        key = json.dumps(recipe.to_json(), sort_keys=True)
        if self._chosen is None:
            raise TestReadError("the test split was asked for before the recipe was fixed on the validation split")
        if key not in self._chosen:
            raise TestReadError(f"the test split was asked for with a recipe that was not chosen: {key}")
        if (key, seed) in self._done:
            raise TestReadError(f"the test split was asked for twice for seed {seed} of {key}")
        self._done.add((key, seed))
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **self.session,
                 "recipe": recipe.to_json(), "seed": seed, "n_test": len(self._test)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as f:  # append only: earlier sessions' reads stay
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return self._test

    @property
    def reads(self) -> int:
        return len(self._done)
