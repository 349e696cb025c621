"""The data pipeline by behaviour: which of parity's decoders, resize methods and normalisations, run by a
backend on the program's own files, give the program's own first evaluation batch. Several methods can give
the same pixels (a square upsample is the same for tf_resize and keras_resizing): the one the program's code
names is kept when it is among them (its reader's hint), else the first in registry order, and the others are
named in the provenance."""

from __future__ import annotations

import numpy as np

from parity.capture.record import Capture
from parity.components import data, resize
from parity.runtime.backends import why_unsupported

# float32 noise of the comparison, relative to the batch's largest value: torch and Keras pipelines measured
# against the programs' own batches differ by at most 3e-7 (keras_tf) and 2e-6 (torch, PIL decode + grid_sample)
TOLERANCE = {"torch": 1e-5, "keras_tf": 1e-6}


def reproducing(paths: list[str], batch: np.ndarray, size: int | None, backend: str) -> dict[str, list[str]]:
    """{'decoder': [...], 'resize': [...], 'norm': [...]}: every value that is part of some (decoder, resize,
    norm) whose images equal `batch` (the same files, in order) within TOLERANCE[backend] of its scale."""
    found = {"decoder": [], "resize": [], "norm": []}
    scale = float(np.abs(batch).max()) or 1.0
    tol = TOLERANCE[backend]
    for decoder in data.DECODERS:
        if why_unsupported(backend, "decoder", decoder):
            continue
        decoded = np.stack([data.decode_image(p, decoder, on=backend) for p in paths]).astype(np.float32)
        for method in resize.RESIZE_METHODS if size is not None else [None]:
            if method is not None and why_unsupported(backend, "resize", method):
                continue
            resized = decoded if method is None else resize.resize(decoded, size, method, on=backend)
            for norm in data.NORMALIZATIONS:
                ours = data.normalize(resized, norm, on=backend)
                if ours.shape == batch.shape and np.abs(ours - batch).max() <= tol * scale:
                    for knob, value in (("decoder", decoder), ("resize", method), ("norm", norm)):
                        if value is not None and value not in found[knob]:
                            found[knob].append(value)
    return found


def read_pipeline(cap: Capture, backend: str, hints: dict) -> None:
    """decoder, resize and norm knobs from the capture's batch; knobs it cannot reproduce go to `unread`."""
    batch = cap.batch
    if not batch:
        for knob in ("decoder", "resize", "norm"):
            cap.unread.setdefault(knob, "no evaluation batch was read from the program's data")
        return
    images, paths = np.asarray(batch["images"], np.float32), batch["paths"]
    size = cap.knobs["size"].value if "size" in cap.knobs else None
    found = reproducing(paths, images, size, backend)
    where = f"{batch['where']}: {len(paths)} images"
    if size is None:
        found["resize"] = [hints["resize"]]
    for knob in ("decoder", "resize", "norm"):
        values = found[knob]
        if not values:
            cap.unread[knob] = (f"{where}: no parity decoder, resize method and normalisation together reproduce "
                                f"them")
            continue
        chosen = hints.get(knob) if hints.get(knob) in values else values[0]
        others = [v for v in values if v != chosen]
        cap.add(knob, chosen, f"{where} reproduced by parity's {chosen}"
                + (f" (equally: {', '.join(others)})" if others else "")
                + (" (size is none: unused)" if knob == "resize" and size is None else ""))
