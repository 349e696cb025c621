"""No case is lost: every case id registered on main at b29de59 (before backends became a registry) is still
registered, under the name it has now."""

from pathlib import Path

from parity.check.cases import all_cases

BEFORE = Path(__file__).parent / "data" / "case_ids_b29de59.txt"
# Cases that moved to the component named after their file: model/init ... -> init/...,
# optim/loss ... -> loss/..., optim/schedule ... -> schedule/...
MOVED = {"model/init ": "init/", "optim/loss ": "loss/", "optim/schedule ": "schedule/"}


def renamed(case_id: str) -> str:
    for old, new in MOVED.items():
        if case_id.startswith(old):
            return new + case_id[len(old):]
    return case_id


def test_every_earlier_case_is_still_registered():
    before = [renamed(line) for line in BEFORE.read_text().splitlines() if line.strip()]
    now = {c.id for c in all_cases()}
    assert len(before) == 138
    assert [i for i in before if i not in now] == []
