"""The front reaches a backend through a client derived from the Protocols: every component and function the
front names exists in its Protocol (checked statically over parity/), and a misspelt one fails at lookup."""

import ast
from pathlib import Path

import pytest

from parity.core.errors import ParityError
from parity.runtime import client as client_module
from parity.runtime.client import Client, backend_of, client, functions_of
from parity.runtime.protocols import PROTOCOLS
from parity.runtime.workers import Handle, target_of

PACKAGE = Path(__file__).resolve().parents[1] / "parity"
ENTRY = {"client", "on", "on_model"}  # the names under which parity's modules call client() and on()


def _client_chains(tree):
    """(component, function, line) of every `client(...).component.function` / `on(...).component.function`."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and isinstance(node.value.value, ast.Call) and isinstance(node.value.value.func, ast.Name)
                and node.value.value.func.id in ENTRY):
            yield node.value.attr, node.attr, node.lineno


def test_every_call_the_front_makes_names_a_protocol_member():
    seen, wrong = 0, []
    for path in sorted(PACKAGE.rglob("*.py")):
        for component, function, line in _client_chains(ast.parse(path.read_text())):
            seen += 1
            module = "__init__" if component == "package" else component
            if module not in PROTOCOLS or (function not in functions_of(PROTOCOLS[module]) and function != "run"):
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} {component}.{function}")
    assert seen >= 30, f"the scan found only {seen} client calls: it no longer sees the front's calls"
    assert wrong == []


def test_a_misspelt_component_or_function_fails_at_lookup():
    kb = client("keras_tf")
    with pytest.raises(AttributeError, match="train_steps"):
        kb.classifier.train_step  # noqa: B018 (the lookup is the test)
    with pytest.raises(AttributeError, match="components: classifier"):
        kb.clasifier  # noqa: B018
    assert callable(kb.classifier.train_steps) and callable(kb.package.visible_gpus)


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(ParityError, match="'keras_jaxx'"):
        Client("keras_jaxx")


def test_a_handle_carries_its_backend_and_a_raw_object_needs_a_worker(monkeypatch):
    assert backend_of(Handle("keras_torch", 3, "Functional")) == "keras_torch"
    monkeypatch.setattr(client_module, "current", lambda: None)
    with pytest.raises(ParityError, match="not a model handle"):
        backend_of(object())
    monkeypatch.setattr(client_module, "current", lambda: "torch")
    assert backend_of(object()) == "torch"


def test_only_module_level_functions_of_parity_run_in_a_worker():
    assert target_of(test_only_module_level_functions_of_parity_run_in_a_worker.__globals__["target_of"]) == \
        "parity.runtime.workers:target_of"
    with pytest.raises(ParityError, match="cannot run in a worker"):
        target_of(lambda: None)
