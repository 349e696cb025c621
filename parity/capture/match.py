"""Framework-neutral matching of what a program built against parity's registries: the row whose fields a
program's optimizer or head has (or the nearest, with the fields that differ), and the body whose tensors have
the program's shapes (or, for a body parity does not mirror, the closest by shared tensor shapes)."""

from __future__ import annotations

from collections import Counter


def row(table: dict, fields: dict, what: str) -> tuple[str, list[str]]:
    """(name, []) of the row of `table` with every field of `fields`; else (nearest row, ['field: program
    value, row value', ...]) for the row differing in the fewest fields (ties: table order)."""
    def differing(name):
        spec = table[name]
        return [f"{k}: the program's {v!r}, parity's {getattr(spec, k)!r}" for k, v in fields.items()
                if getattr(spec, k) != v]

    best = min(table, key=lambda name: len(differing(name)))
    return best, differing(best)


def canonical_shapes(shapes: list[tuple], layout: str) -> Counter:
    """Tensor shapes as a multiset in one layout: torch OIHW convolutions and (out, in) matrices become
    Keras' HWIO and (in, out), so a torch body and a Keras one compare."""
    out = Counter()
    for shape in shapes:
        shape = tuple(int(s) for s in shape)
        if layout == "torch" and len(shape) == 4:
            shape = (shape[2], shape[3], shape[1], shape[0])
        elif layout == "torch" and len(shape) == 2:
            shape = (shape[1], shape[0])
        out[shape] += 1
    return out


def similarity(a: Counter, b: Counter) -> float:
    """Shared tensors over all tensors (a multiset Jaccard index): 1.0 means the same shapes, same counts."""
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 0.0


def closest(program: Counter, signatures: dict[str, Counter]) -> tuple[str, float]:
    """(body, similarity) of the parity body whose tensor shapes are nearest the program's."""
    name = max(signatures, key=lambda n: similarity(program, signatures[n]))
    return name, similarity(program, signatures[name])
