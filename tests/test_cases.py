"""Every registered parity case, run as `parity check` runs it: matched cases within tolerance, divergences
still measurable, and every tolerance above the float32 noise it has to absorb. Cases that need --data-dir
are run by the slow CIFAR tests instead."""

import pytest

from parity.cases import all_cases

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


def _case_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec else None


@pytest.fixture(scope="module")
def checked(request) -> dict:
    """Rows by case id of every selected case of this module, run as `parity check` runs them (two at a time,
    each on a Keras worker of its own, the models they share built once): at the first case, in one go. Run one
    by one, they cost 255 CPU-seconds (2026-12-02; 245 with this module's cases on both pytest workers,
    each running all of them) against 107 in one go. `nox -s tests` runs each test file on one pytest worker
    (--dist loadfile), so one worker runs them all."""
    from parity.compare import check_cases
    from parity.context import CheckContext

    selected = [case for item in request.session.items if item.module is request.module
                for case in [_case_of(item)] if case is not None]
    ctx = CheckContext(seed=0)
    try:
        rows = {selected[i].id: row for i, row in check_cases(selected, ctx)}
    finally:
        ctx.close()
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, checked):
    row = checked[case.id]
    if row["status"] == "skipped":
        pytest.skip(row["detail"]["why"])
    assert row["status"] == "pass", (row["status"], row["max_abs"], row["tol"], row["detail"].get("first_over_tol"),
                                     row["detail"].get("error"))
    if case.kind == "matched":  # a tolerance below either side's own float32 error would fail on noise, not a bug
        over = [(name, noise) for name, noise in _noise(row) if noise > row["tol"]]
        assert not over, f"float32 noise above the tolerance {row['tol']}: {over[:3]}"
