"""Which parity body a program's body is, by the shapes of its tensors (parameters and BN statistics, in one
layout): body_shapes.json holds every parity body's shapes, measured from the bodies themselves by `measure()`
(tests/test_capture.py rebuilds it and compares), so identifying a body loads no framework parity would not
otherwise load."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from parity.capture.match import canonical_shapes, closest

SHAPES_FILE = Path(__file__).with_name("body_shapes.json")
SAME = 1.0  # a body is identified only when every tensor shape, with its count, is the same


def signatures() -> dict[str, Counter]:
    doc = json.loads(SHAPES_FILE.read_text())
    return {name: Counter({tuple(shape): count for shape, count in rows}) for name, rows in doc.items()}


def identify(shapes: list[tuple], layout: str) -> tuple[str | None, str, float]:
    """(the parity body, or None; the closest parity body; its similarity) for a body with tensors `shapes`."""
    name, score = closest(canonical_shapes(shapes, layout), signatures())
    return (name if score >= SAME else None), name, score


def measure() -> dict:
    """Every parity body's canonical shapes, built by its framework: portable bodies from torch_impl, the
    keras.applications one from Keras (fresh weights, nothing downloaded)."""
    from parity.components import models

    out = {}
    for name, body in models.BODIES.items():
        if body.family == "keras_applications":
            import keras_impl.models as built

            shapes, layout = [tuple(w.shape) for w in built.build_body(name).weights], "keras"
        else:
            import torch_impl.models as built

            shapes, layout = [v.shape for v in built.body_state(built.build_body(name)).values()], "torch"
        rows = canonical_shapes(shapes, layout)
        out[name] = sorted([list(shape), count] for shape, count in rows.items())
    return out


if __name__ == "__main__":  # python -m parity.capture.bodies: rewrite body_shapes.json after a body changes
    SHAPES_FILE.write_text(json.dumps(measure(), indent=None) + "\n")
