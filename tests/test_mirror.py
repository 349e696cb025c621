"""torch_impl and keras_impl are mirrors: same modules, same public names, same signatures."""

import ast
import importlib
import inspect
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "torch_impl").glob("*.py") if p.stem != "__init__")


def _public_names(package: str, module: str) -> set[str]:
    tree = ast.parse((ROOT / package / f"{module}.py").read_text())
    return {n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")}


def test_same_module_files():
    keras_modules = sorted(p.stem for p in (ROOT / "keras_impl").glob("*.py") if p.stem != "__init__")
    assert MODULES == keras_modules


@pytest.mark.parametrize("module", MODULES)
def test_same_public_names(module):
    assert _public_names("torch_impl", module) == _public_names("keras_impl", module)


@pytest.mark.parametrize("module", MODULES)
def test_same_signatures(module):
    torch_mod = importlib.import_module(f"torch_impl.{module}")
    keras_mod = importlib.import_module(f"keras_impl.{module}")
    def params(fn):  # names, kinds and defaults; annotations name each framework's own types
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in sorted(_public_names("torch_impl", module)):
        assert params(getattr(torch_mod, name)) == params(getattr(keras_mod, name)), name


def test_core_does_not_import_frameworks_at_module_level():
    """parity/ must import without torch or TensorFlow: no top-level import of either in any module."""
    banned = {"torch", "torchvision", "tensorflow", "keras", "torch_impl", "keras_impl"}
    for path in (ROOT / "parity").rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & banned, f"{path.name} imports {names} at module level"
