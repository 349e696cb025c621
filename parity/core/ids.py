"""Case ids across versions: the sentence ids cases had until d8eb99f ('model/resnet18 64px inference') and
b29de59's older forms map to today's short ids ('model.resnet18.64.infer'), so stored results, fault entries and
`--only` written with an old id still name the same case."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SENTENCE_IDS = Path(__file__).with_name("case_ids_d8eb99f.json")  # {sentence id at d8eb99f: short id}, frozen
# b29de59 named some cases under another component: model/init ... -> init/..., and so on
MOVED = {"model/init ": "init/", "optim/loss ": "loss/", "optim/schedule ": "schedule/"}


@lru_cache(maxsize=1)
def sentence_ids() -> dict[str, str]:
    return json.loads(SENTENCE_IDS.read_text())


def current_id(case_id: str) -> str:
    """Today's id of a case named by any earlier id; an id that is not an old one is returned as it is."""
    for old, new in MOVED.items():
        if case_id.startswith(old):
            case_id = new + case_id[len(old):]
    return sentence_ids().get(case_id, case_id)
