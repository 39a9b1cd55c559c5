"""Property test: random damage to a run's manifests, state files and config never yields a traceback, exit code
70, a change outside the run, or a lost intact checkpoint (Hypothesis, derandomized: the same examples every run).

`make test` runs a few dozen examples; `make test-all` runs a few hundred (the slow variant).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import make_template, make_world, rewrite_manifest, run_commands

TARGETS = ("config.json", "checkpoints/20/MANIFEST.json", "checkpoints/20/state.json", "checkpoints/10/state.json",
           "checkpoints/0/MANIFEST.json", "checkpoints/20/optim-generator.json", "checkpoints/10/optim-discriminator.json")

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_template(tmp_path_factory.mktemp("template"))


def _mutate(data, root: Path) -> None:
    """Draw one file and one damage: a value replaced or a key deleted somewhere inside, or the whole file replaced."""
    path = root / data.draw(st.sampled_from(TARGETS), label="file")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:  # damaged by an earlier draw: only whole-file damage applies
        doc = None
    kind = data.draw(st.sampled_from(["replace", "delete", "whole", "bytes"]), label="kind")
    if kind == "bytes":
        path.write_bytes(data.draw(st.binary(max_size=64), label="bytes"))
    elif kind == "whole" or not isinstance(doc, dict) or not doc:
        path.write_text(json.dumps(data.draw(json_values, label="doc")))
    else:
        node = doc
        while True:  # walk down a random key path
            key = data.draw(st.sampled_from(sorted(node)), label="key")
            child = node[key]
            if not isinstance(child, dict) or not child or data.draw(st.booleans(), label="stop"):
                break
            node = child
        if kind == "delete":
            del node[key]
        else:
            node[key] = data.draw(json_values, label="value")
        path.write_text(json.dumps(doc))
    ckpt_dir = path.parent
    if ckpt_dir.name.isdigit() and path.name != "MANIFEST.json" and data.draw(st.booleans(), label="rehash"):
        rewrite_manifest(ckpt_dir)  # the attacker also makes the manifest match


def _property(template: Path, data, capsys) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run, outside = make_world(template, Path(tmp))
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            _mutate(data, run)
        run_commands(run, outside, capsys)


COMMON = dict(derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])


@settings(max_examples=30, **COMMON)
@given(data=st.data())
def test_random_damage_keeps_the_invariants(template, data, capsys):
    _property(template, data, capsys)


@pytest.mark.slow
@settings(max_examples=300, **COMMON)
@given(data=st.data())
def test_random_damage_keeps_the_invariants_many(template, data, capsys):
    _property(template, data, capsys)
