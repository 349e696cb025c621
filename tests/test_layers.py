"""parity/ is layered: each subpackage imports only itself and the layers below it, at module level or inside a
function, and no two modules import each other, directly or around a loop. An `ast` scan of the source; nothing
is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "parity"
LAYERS = ("core", "runtime", "components", "train", "capture", "check", "reports", "testing", "selftest",
          "cli")  # bottom to top
TOP_LEVEL = {"parity": "core", "parity.__main__": "cli"}  # the package's own two files
FACADE = {("parity", "parity.testing")}  # `parity.port_weights`: re-exported lazily, in a module __getattr__


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    return module.split(".")[1]


def imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """parity modules a file imports (`from parity.x import y` counts parity.x.y when that is a module)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "parity"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(anchor[:len(anchor) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "parity":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


FILES = sorted(f for f in PACKAGE.rglob("*.py") if "examples" not in f.relative_to(PACKAGE).parts)  # users' programs
MODULES = {module_name(f) for f in FILES}
GRAPH = {module_name(f): imported(ast.parse(f.read_text()), module_name(f), f.name == "__init__.py")
         for f in FILES}


def test_every_module_lives_in_a_layer():
    flat = sorted(m for m in MODULES if m not in TOP_LEVEL and layer_of(m) not in LAYERS)
    assert not flat, f"modules outside the layers {LAYERS}: {flat}"


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_downward(layer):
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = sorted(f"{m} -> {d}" for m, deps in GRAPH.items() if layer_of(m) == layer
                    for d in deps if d in MODULES and rank[layer_of(d)] > rank[layer] and (m, d) not in FACADE)
    assert not upward, f"upward imports from {layer}: {upward}"


def test_no_import_circle():
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module, path):
        state[module] = 1
        for dep in sorted(GRAPH.get(module, ())):
            if dep == module or dep not in GRAPH or dep == "parity" or module.startswith(dep + "."):
                continue  # a package's __init__ is not a module of its own: a submodule reaching it is no loop
            if state.get(dep) == 1:
                raise AssertionError(f"import circle: {' -> '.join(path[path.index(dep):] + [dep])}")
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_each_subpackage_says_what_it_holds():
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc and len(doc) > 80, f"parity/{layer}/__init__.py needs a paragraph saying what the layer holds"


def test_the_checker_finds_a_planted_upward_import():
    """The scan is not vacuous: an import of the CLI from core is found as upward."""
    tree = ast.parse("def f():\n    from parity.cli import commands\n")
    deps = imported(tree, "parity.core.errors", False)
    assert "parity.cli.commands" in deps and layer_of("parity.cli.commands") == "cli"


def test_no_module_of_parity_loads_a_framework():
    """parity/ is framework-neutral: importing every one of its modules (capture's readers, parity.testing)
    loads neither torch nor TensorFlow nor Keras; they are imported inside functions, when a program or a test
    already has them."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, parity\n"
            "for m in pkgutil.walk_packages(parity.__path__, 'parity.'):\n"
            "    if '.examples' not in m.name and not m.name.endswith('__main__'):\n"
            "        importlib.import_module(m.name)\n"
            "print(sorted(f for f in ('torch', 'tensorflow', 'keras', 'jax') if f in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
