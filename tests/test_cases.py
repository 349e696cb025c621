"""Every registered parity case, run as `parity check` runs it: matched cases within tolerance, divergences
still measurable. Cases that need --data-dir are run by the slow CIFAR tests instead."""

import pytest

from parity.compare import run_case
from parity.registry import all_cases
from parity.tolerances import get_tolerance

CASES = all_cases()


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, check_context):
    row = run_case(case, check_context)
    if row["status"] == "skipped":
        pytest.skip(row["detail"]["why"])
    assert row["status"] == "pass", (row["status"], row["max_abs"], row["tol"], row["detail"].get("error"))


# tolerances with a noise_multiple judge ill-conditioned tensors against their own float64 error instead
@pytest.mark.parametrize("case", [c for c in CASES if c.kind == "matched" and not get_tolerance(c.tol).noise_multiple],
                         ids=lambda c: c.id)
def test_tolerance_covers_the_float32_noise(case, check_context):
    """A tolerance below either side's own error against float64 would fail on noise, not on a bug."""
    row = run_case(case, check_context)
    if row["noise"] is None:
        pytest.skip("no float64 reference for this case")
    noise = row["noise_rel"] if get_tolerance(case.tol).relative else row["noise"]
    assert noise <= row["tol"], (noise, row["tol"])
