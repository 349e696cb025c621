"""Aligning a user's torch model with their Keras model, framework-neutral: both traces (torch_impl.testing and
keras_impl.testing list each layer's kind, name and output in execution order) are cut into anchors (conv, linear,
BN, dropout, pools, flatten), each with the activation that directly follows it, and the anchors must agree kind by
kind; a name map, when given, pairs the weighted layers by name instead. Porting follows the layer kind, never the
shapes: a square Dense is transposed like any other (parity.components.porting's table)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from parity.components.porting import CONVERSIONS
from parity.core.errors import ParityError

ANCHORS = ("conv", "linear", "bn", "dropout", "maxpool", "avgpool", "gap", "flatten")
ACTIVATIONS = ("relu", "softmax")
WEIGHTED = {"conv": "conv", "linear": "linear", "bn": "vector"}  # kind -> conversion of its weight


@dataclass
class Stage:
    """One anchor layer and the activation right after it (if any) on one side."""
    name: str
    kind: str
    layer: object
    output: np.ndarray | None
    input_shape: tuple = ()
    activation: dict | None = None  # {'name', 'kind', 'output'}


@dataclass
class Pair:
    torch: Stage
    keras: Stage
    flatten_from: tuple | None = None  # (C, H, W) of the torch Flatten before a Linear: its columns are permuted

    @property
    def label(self) -> str:
        return f"{self.torch.name} / {self.keras.name}"


@dataclass
class LayerMap:
    """The aligned layers of a torch model and a Keras model: every pair, and notes about settings that differ
    (BN eps or momentum) that a comparison's message names when that layer fails."""
    pairs: list
    notes: dict = field(default_factory=dict)  # pair label -> what differs

    def weighted(self) -> list:
        return [p for p in self.pairs if p.torch.kind in WEIGHTED]

    def __str__(self) -> str:
        return "\n".join(f"{p.torch.kind:8s} {p.torch.name} -> {p.keras.name}" for p in self.pairs)


def stages(points: list[dict]) -> list[Stage]:
    """Anchors with their following activation; a torch gap + flatten (AdaptiveAvgPool2d(1), Flatten) is one
    gap, as Keras' GlobalAveragePooling2D is."""
    out: list[Stage] = []
    for p in points:
        if p["kind"] in ACTIVATIONS:
            if out and out[-1].activation is None:  # named after its layer: fc2+relu4 (torch), fc2+relu (Keras)
                name = p["name"] if p["name"].startswith(out[-1].name) else f"{out[-1].name}+{p['name']}"
                out[-1].activation = {"name": name, "kind": p["kind"], "output": p["output"]}
            continue
        if p["kind"] == "flatten" and out and out[-1].kind == "gap" and out[-1].activation is None:
            out[-1].output = p["output"]
            continue
        out.append(Stage(p["name"], p["kind"], p["layer"], p["output"], p.get("input_shape", ())))
    return out


def align(torch_points: list[dict], keras_points: list[dict], describe) -> LayerMap:
    """Pair the anchors in order; the first that differs in kind (or a count that differs) is an error naming
    both layers. `describe(stage)` names a layer for messages."""
    ts, ks = stages(torch_points), stages(keras_points)
    for i, (t, k) in enumerate(zip(ts, ks)):
        if t.kind != k.kind:
            raise ParityError(f"the models do not align at layer {i + 1}: torch {describe(t)} is a {t.kind}, "
                              f"Keras {describe(k)} is a {k.kind} (pass name_map= to pair the weighted "
                              f"layers by name)")
    if len(ts) != len(ks):
        longer, side = (ts, "torch") if len(ts) > len(ks) else (ks, "Keras")
        extra = longer[min(len(ts), len(ks))]
        raise ParityError(f"the models do not align: {side} has {len(longer) - min(len(ts), len(ks))} more layers, "
                          f"the first {describe(extra)} ({extra.kind})")
    flattened = _flattened(ts)
    return LayerMap([Pair(t, k, flattened.get(t.name)) for t, k in zip(ts, ks)])


def _flattened(torch_stages: list[Stage]) -> dict[str, tuple]:
    """{name of the first Linear after a torch Flatten of an (N, C, H, W) tensor: (C, H, W)}."""
    out, pending = {}, None
    for t in torch_stages:
        if t.kind == "flatten" and len(t.input_shape) == 4:
            pending = t.input_shape[1:]
        elif t.kind == "linear" and pending is not None:
            out[t.name], pending = pending, None
    return out


def by_names(torch_points: list[dict], keras_points: list[dict], name_map: dict) -> LayerMap:
    """Pairs from {torch module name: Keras layer name}; a name missing on either side is an error naming it."""
    ordered = stages(torch_points)
    ts, flattened = {s.name: s for s in ordered}, _flattened(ordered)
    ks = {s.name: s for s in stages(keras_points)}
    pairs = []
    for tn, kn in name_map.items():
        if tn not in ts:
            raise ParityError(f"name_map: torch module {tn!r} is not a layer parity compares (known: "
                              f"{', '.join(sorted(ts)) or 'none'})")
        if kn not in ks:
            raise ParityError(f"name_map: Keras layer {kn!r} is not a layer parity compares (known: "
                              f"{', '.join(sorted(ks)) or 'none'})")
        if ts[tn].kind != ks[kn].kind:
            raise ParityError(f"name_map pairs torch {tn!r} ({ts[tn].kind}) with Keras {kn!r} ({ks[kn].kind})")
        pairs.append(Pair(ts[tn], ks[kn], flattened.get(tn)))
    return LayerMap(pairs)


def to_keras(pair: Pair, tensor: str, value: np.ndarray) -> np.ndarray:
    """A torch tensor of `pair` in Keras' layout, by the layer's kind."""
    kind = WEIGHTED[pair.torch.kind] if tensor == "weight" else "vector"
    if pair.flatten_from is not None and tensor == "weight":  # torch flattens CHW, Keras HWC: permute columns
        c, h, w = pair.flatten_from
        value = value.reshape(value.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(value.shape[0], -1)
    return CONVERSIONS[kind].to_keras(value)


def to_torch(pair: Pair, tensor: str, value: np.ndarray) -> np.ndarray:
    """A Keras tensor of `pair` in torch's layout (the inverse of to_keras)."""
    kind = WEIGHTED[pair.torch.kind] if tensor == "weight" else "vector"
    out = CONVERSIONS[kind].to_torch(value)
    if pair.flatten_from is not None and tensor == "weight":
        c, h, w = pair.flatten_from
        out = out.reshape(out.shape[0], h, w, c).transpose(0, 3, 1, 2).reshape(out.shape[0], -1)
    return out
