"""Repository rules that a reviewer would otherwise have to remember."""
import ast
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


# STYLE §14: the shared layers know no family. GAN names live only in the GAN family's own files.
GAN_FILES = {"models/cgan.py", "models/dcgan.py", "models/gan_blocks.py", "models/gan_config.py", "training/gan.py",
             "training/objectives/gan_losses.py", "training/objectives/penalties.py", "training/diffaugment.py"}
GAN_NAME_EXCEPTIONS: set[str] = set()  # none since per-family config sections (format version 2)
GAN_NAMES = re.compile(r"""["']generator["']|["']discriminator["']|\blr_[gd]\b|sample_gan|\bGANTask\b|\.gan\.|\bD_step|\bd_step\b"""
                       r"""|\bGANConfig\b|\bg_channels\b|\bd_channels\b|\baux_classifier\b|\bdiffaugment\b""")


def test_no_gan_names_outside_the_gan_family():
    offenders = [f"{p.relative_to(PKG)}:{i}: {line.strip()}" for p in PKG.rglob("*.py")
                 if str(p.relative_to(PKG)) not in GAN_FILES | GAN_NAME_EXCEPTIONS
                 for i, line in enumerate(p.read_text().splitlines(), 1) if GAN_NAMES.search(line)]
    assert offenders == []


def test_files_stay_small():
    big = [f"{p.relative_to(PKG)}: {n}" for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400]
    assert big == []


# DESIGN.md §2: imports point down only. A package may import its own layer and the layers below.
LAYERS = [{"core"}, {"data", "models", "sampling"}, {"training", "evaluation", "augment"},
          {"api", "api_eval", "api_augment", "api_study", "cli", "cli_common", "cli_augment", "demo", "__main__", "__init__",
           "serving"}]


def _layer(name: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if name in group)


# Calls that import a module named by a string. The one function allowed to pass them a computed
# name (and so to import upward) is plug-in discovery, which must import every layer's plug-ins.
IMPORT_BY_NAME = {"__import__", "import_module", "find_spec", "resolve_name", "run_module"}  # by the called name
IMPORTS_BY_COMPUTED_NAME = {("core/registry.py", "discover_plugins")}
MODULE_NAME = re.compile(r"genforge(\.\w+)+")


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _imported_modules(tree: ast.AST, exempt: set[int]):
    """(line, module name or None) for every import in ``tree``; None: an import by a name computed at run time."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "genforge":
            yield from ((node.lineno, f"genforge.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.Call) and _called_name(node) in IMPORT_BY_NAME and id(node) not in exempt:
            arg = node.args[0] if node.args else None
            literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            yield node.lineno, arg.value if literal else None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_NAME.fullmatch(node.value):
            yield node.lineno, node.value  # a module name kept as data, e.g. in a list later imported


def upward_imports(pkg: Path) -> list[str]:
    """Every import in ``pkg`` that points up (DESIGN §2), by statement, by call or by module name kept as data."""
    upward = set()
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg)
        own = _layer(rel.parts[0].removesuffix(".py"))
        tree = ast.parse(path.read_text())
        exempt = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                  and (rel.as_posix(), f.name) in IMPORTS_BY_COMPUTED_NAME for n in ast.walk(f)}
        for line, module in _imported_modules(tree, exempt):
            if module is None:
                upward.add(f"{rel}:{line} imports a module by a name computed at run time")
            elif module.startswith("genforge.") and _layer_of_module(module) > own:
                upward.add(f"{rel}:{line} imports {module}")
    return sorted(upward)


def _layer_of_module(module: str) -> int:
    """Layer of ``genforge.<top>...``; -1 when <top> is no module (``from genforge import __version__``)."""
    top = module.split(".")[1]
    return _layer(top) if any(top in group for group in LAYERS) else -1


def test_every_module_has_a_layer():
    tops = {p.name.removesuffix(".py") for p in PKG.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert sorted(t for t in tops if not any(t in group for group in LAYERS)) == []


def test_imports_point_down_only():
    assert upward_imports(PKG) == []
