"""Repository rules that a reviewer would otherwise have to remember."""
import re
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "genforge"


def test_no_pickle_anywhere_in_the_package():
    pattern = re.compile(r"\bimport pickle\b|\bpickle\.|torch\.load\(|allow_pickle\s*=\s*True|cloudpickle|joblib\.load")
    offenders = [f"{p}:{i}" for p in PKG.rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []


def test_import_has_no_side_effects():
    code = ("import sys, genforge; heavy = [m for m in ('torch', 'numpy', 'mlxtend', 'tensorboard') if m in sys.modules];"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_files_stay_small():
    big = [f"{p.relative_to(PKG)}: {n}" for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400]
    assert big == []


# DESIGN.md §2: imports point down only. A package may import its own layer and the layers below.
LAYERS = [{"core"}, {"data", "models", "sampling"}, {"training", "evaluation", "augment"},
          {"api", "cli", "demo", "__main__", "__init__", "serving"}]


def _layer(name: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if name in group)


def test_imports_point_down_only():
    import ast

    upward = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        own = _layer(rel.parts[0].removesuffix(".py"))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("genforge."):
                target = node.module.split(".")[1]
                if _layer(target) > own:
                    upward.append(f"{rel}:{node.lineno} imports {node.module}")
    assert upward == []
