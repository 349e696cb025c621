"""What both backends' training loops share that is not a spec: the per-step trace of a traced run. Backends
import it; the front does not need it."""

from __future__ import annotations


def step_tracer(state_of, model, prefix: str):
    """(trace, after): `after(step)`, called by a mirror's training loop after each update, records the state
    whose torch names start with `prefix` into `trace` as 'step <k> <name>' (k from 1)."""
    trace = {}

    def after(step: int) -> None:
        trace.update({f"step {step + 1} {k}": v for k, v in state_of(model).items() if k.startswith(prefix)})

    return trace, after
