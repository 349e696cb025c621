"""Every registered parity case, run as `parity check` runs it: matched cases within tolerance, divergences
still measurable, and every tolerance above the float32 noise it has to absorb. Cases that need --data-dir
are run by the slow CIFAR tests instead."""

import pytest

from parity.check.compare import run_case
from parity.check.cases import all_cases

CASES = all_cases()


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def _noise(row: dict) -> list[tuple[str, float]]:
    """(name, float32 noise against float64) of what the case judges: every judged layer, or the case itself."""
    key = "noise_rel" if row["relative"] else "noise"
    layers = row["detail"].get("layers")
    if layers:
        return [(layer["layer"], layer[key]) for layer in layers if not layer["excluded"] and layer[key] is not None]
    return [(row["id"], row[key])] if row[key] is not None else []


_CONTEXTS: dict = {}


def _close_contexts() -> None:
    for ctx in _CONTEXTS.values():
        ctx.close()
    _CONTEXTS.clear()


@pytest.fixture(scope="module", autouse=True)
def _close_the_last_context():
    """The last component's context is closed with the module: its models leave the workers, its folder the disk."""
    yield
    _close_contexts()


@pytest.fixture
def component_context(request):
    """One check context per component, closed when the next component starts: the models a component's cases
    share stay in the workers only while those cases run."""
    from parity.check.context import CheckContext

    component = request.node.callspec.params["case"].component
    if component not in _CONTEXTS:
        _close_contexts()
        _CONTEXTS[component] = CheckContext(seed=0)
    return _CONTEXTS[component]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, component_context):
    row = run_case(case, component_context)
    if row["status"] == "skipped":
        pytest.skip(row["detail"]["why"])
    assert row["status"] == "pass", (row["status"], row["max_abs"], row["tol"], row["detail"].get("first_over_tol"),
                                     row["detail"].get("error"))
    if case.kind == "matched":  # a tolerance below either side's own float32 error would fail on noise, not a bug
        over = [(name, noise) for name, noise in _noise(row) if noise > row["tol"]]
        assert not over, f"float32 noise above the tolerance {row['tol']}: {over[:3]}"
