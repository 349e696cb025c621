"""No case is lost: every case id registered on main at b29de59 and every sentence id of d8eb99f maps, through
parity.core.ids, to a case registered now; and today's ids are short and unique."""

from pathlib import Path

from parity.check.cases import all_cases
from parity.core.ids import current_id, sentence_ids

BEFORE = Path(__file__).parent / "data" / "case_ids_b29de59.txt"


def test_every_earlier_case_is_still_registered():
    before = [line for line in BEFORE.read_text().splitlines() if line.strip()]
    now = {c.id for c in all_cases()}
    assert len(before) == 138
    assert [i for i in before if current_id(i) not in now] == []


def test_every_sentence_id_maps_to_a_registered_case():
    now = {c.id for c in all_cases()}
    assert len(sentence_ids()) == 197
    assert sorted(set(sentence_ids().values()) - now) == []


def test_ids_are_short_unique_and_dotted():
    ids = [c.id for c in all_cases()]
    assert len(ids) == len(set(ids))
    assert all(len(i) <= 72 and "/" not in i and " " not in i for i in ids), [i for i in ids if len(i) > 72]
    assert current_id("model/resnet18 64px inference") == "model.resnet18.64.infer"


def test_every_exclusion_names_the_case_that_judges_instead():
    ids = {c.id for c in all_cases()}
    assert [(c.id, e.judged_by) for c in all_cases() for e in c.exclude if e.judged_by and e.judged_by not in ids] == []
