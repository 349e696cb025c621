"""Every backend package against the contract (parity.runtime.protocols): the same modules, exactly the Protocol's
public names, the same parameter names, kinds and defaults, the declared constants; dispatch tables that
cover what the registry lists minus what the backend declares unsupported; and no imports between backends."""

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from parity.components import resize
from parity.runtime import workers
from parity.runtime.backends import BACKENDS, frameworks, with_api
from parity.runtime.protocols import PROTOCOLS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted({b.package for b in BACKENDS.values()})


def protocol_members(protocol) -> dict:
    """{name: signature without self, or None for a constant} of a Protocol class."""
    members = {name: None for name in getattr(protocol, "__annotations__", {})}
    for name, value in vars(protocol).items():
        if callable(value) and not name.startswith("_"):
            members[name] = [(p.name, p.kind, p.default) for p in inspect.signature(value).parameters.values()][1:]
    return members


def public_names(path: Path) -> set[str]:
    """Public functions, classes and constants (UPPER_CASE assignments) a module defines at its top level."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper()
                      and not t.id.startswith("_")}
    return names


def mismatches(package: str, module: str) -> list[str]:
    """What `package.module` lacks, adds or signs differently from its Protocol (empty when it conforms)."""
    members = protocol_members(PROTOCOLS[module])
    mod = importlib.import_module(package if module == "__init__" else f"{package}.{module}")
    path = ROOT / package / f"{module}.py"
    problems = [f"{package}.{module} has no {name}" for name in members if not hasattr(mod, name)]
    problems += [f"{package}.{module} defines {name}, which the Protocol does not declare"
                 for name in sorted(public_names(path) - set(members))]
    for name, signature in members.items():
        if signature is not None and hasattr(mod, name):
            theirs = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(mod, name)).parameters.values()]
            if theirs != signature:
                problems.append(f"{package}.{module}.{name} takes {theirs}, the Protocol {signature}")
    return problems


def test_every_backend_package_has_every_protocol_module():
    for package in PACKAGES:
        modules = {p.stem for p in (ROOT / package).glob("*.py") if not p.stem.startswith("_")} | {"__init__"}
        assert modules == set(PROTOCOLS), (package, sorted(modules ^ set(PROTOCOLS)))


@pytest.mark.parametrize("module", sorted(PROTOCOLS))
@pytest.mark.parametrize("package", PACKAGES)
def test_backend_module_satisfies_its_protocol(package, module):
    assert mismatches(package, module) == []


def test_a_dropped_or_renamed_function_is_caught(tmp_path):
    """Rename torch_impl.loss.loss_and_grad in a copy of the package (checked in a fresh interpreter): the
    check names what is missing and what is extra."""
    copy = tmp_path / "torch_impl"
    copy.mkdir()
    for source in (ROOT / "torch_impl").glob("*.py"):
        (copy / source.name).write_text(source.read_text().replace("def loss_and_grad(", "def loss_and_gradient("))
    script = (f"import sys; sys.path[:0] = [{str(tmp_path)!r}, {str(Path(__file__).parent)!r}]; "
              f"import test_mirror; from pathlib import Path; test_mirror.ROOT = Path({str(tmp_path)!r}); "
              f"print(chr(10).join(test_mirror.mismatches('torch_impl', 'loss')))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "torch_impl.loss has no loss_and_grad" in out
    assert "torch_impl.loss defines loss_and_gradient, which the Protocol does not declare" in out


def test_resize_dispatch_tables_cover_the_registry_minus_the_declared():
    """No silent default: each Keras backend's METHODS is exactly the registry minus what it declares."""
    torch_methods = importlib.import_module("torch_impl.resize").METHODS
    assert set(torch_methods) == set(resize.RESIZE_METHODS)
    for backend in with_api("keras", frameworks()):  # each in its own worker: one process has one Keras backend
        methods = workers.call_on(backend, "tests.worker_probe:resize_methods")
        declared = {method for (component, method) in BACKENDS[backend].unsupported if component == "resize"}
        assert set(methods) == set(resize.RESIZE_METHODS) - declared, backend


def test_backends_never_import_each_other():
    for package in PACKAGES:
        others = {p for p in PACKAGES if p != package}
        for path in (ROOT / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not {n.split(".")[0] for n in names} & others, f"{path} imports {names}"


def test_core_does_not_import_frameworks_at_module_level():
    """parity/ must import without torch or TensorFlow: no top-level import of either in any module (the example
    programs under parity/examples are users' scripts, run as they are, never imported by parity)."""
    banned = {"torch", "torchvision", "tensorflow", "keras", "torch_impl", "keras_impl"}
    for path in (ROOT / "parity").rglob("*.py"):
        if (ROOT / "parity" / "examples") in path.parents:
            continue
        for node in ast.parse(path.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not {n.split(".")[0] for n in names} & banned, f"{path.name} imports {names} at module level"


def test_the_coordinating_process_imports_no_framework():
    """`parity list` and a check of numpy-only cases run without torch or TensorFlow in the parity process."""
    script = ("import sys; from parity.cli.app import main; main(['list']); "
              "assert not {'torch', 'tensorflow', 'keras'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
