"""What a capture found, as data shared by the child that reads a program and the parent that writes the recipe:
each knob with its value and its provenance, each setting parity has no knob for, and how the program ended."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# how a program's run under capture ended
STOPPED = "stopped"  # at its first training call: the capture is complete
NEVER_TRAINED = "never_trained"  # it finished (or exited) without a training call
RAISED = "raised"  # it raised before its first training call
STATUSES = (STOPPED, NEVER_TRAINED, RAISED)


@dataclass
class Found:
    """One knob as read from the program: its value, where it came from, and whether it only approximates
    what the program does (the nearest value parity has; the gap is then also listed as uncovered)."""
    value: object
    source: str
    approximate: bool = False


@dataclass
class Uncovered:
    """A setting of the program that no knob of parity expresses: the two programs may differ there, and an
    attribution cannot cover it."""
    setting: str
    detail: str


@dataclass
class Capture:
    program: str
    argv: list
    status: str
    library: str = ""  # fastai1, fastai2, keras, torch
    stopped_at: str = ""  # the training call, e.g. "learn.fit(3) at fastai_v1_thread.py:19"
    knobs: dict = field(default_factory=dict)  # knob -> Found
    uncovered: list = field(default_factory=list)  # Uncovered
    unread: dict = field(default_factory=dict)  # knob -> why it could not be read
    weights: list = field(default_factory=list)  # the pretrained weights the program asked for (intercepted)
    message: str = ""  # for a program that did not stop: what happened, in one line
    where: str = ""  # for a program that raised: file:line in the program
    batch: dict = field(default_factory=dict)  # the data's first evaluation batch, for the pipeline match

    def add(self, knob: str, value, source: str, approximate: bool = False) -> None:
        self.knobs[knob] = Found(value, source, approximate)

    def note(self, setting: str, detail: str) -> None:
        if all(u.setting != setting for u in self.uncovered):
            self.uncovered.append(Uncovered(setting, detail))

    def to_json(self) -> dict:
        out = asdict(self)
        out["knobs"] = {k: {**asdict(f), "value": list(f.value) if isinstance(f.value, tuple) else f.value}
                        for k, f in self.knobs.items()}
        return out

    @classmethod
    def from_json(cls, doc: dict) -> "Capture":
        doc = dict(doc)
        knobs = {k: Found(tuple(f["value"]) if isinstance(f["value"], list) else f["value"], f["source"],
                          f.get("approximate", False)) for k, f in doc.pop("knobs", {}).items()}
        uncovered = [Uncovered(**u) for u in doc.pop("uncovered", [])]
        return cls(knobs=knobs, uncovered=uncovered, **doc)
