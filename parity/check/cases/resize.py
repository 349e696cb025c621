"""Resize parity cases: every method torch-vs-keras against a float64 reference, named cross-method
divergences with their reasons, and a cross-method divergence matrix per size pair.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from parity.components import resize as spec
from parity.check.case import Case, Sides
from parity.check.cases._shared import TORCH, KERAS

# (input source, its (h, w), output size): the thread's 32->64, Keras' 32->224, a real square downsampling,
# and a non-square photo that exercises each method's crop geometry (fastai crops, the others stretch).
SIZE_PAIRS = [("thumbnails", (32, 32), 64), ("thumbnails", (32, 32), 224), ("squares", (384, 384), 64),
              ("photos", (427, 640), 64)]
MATRIX_PAIRS = SIZE_PAIRS[:3]  # square inputs only, so the matrix compares resampling, not crop vs stretch


def _label(source: str, size: int) -> str:
    hw = dict((s, hw) for s, hw, _ in SIZE_PAIRS)[source]
    return f"{hw[0]}x{hw[1]}->{size}"


def resized(ctx, backend: str, method: str, source: str, size: int) -> np.ndarray:
    """One backend's resize of a shared input, computed once per check run."""
    return ctx.memo(("resize", backend, method, source, size),
                    lambda: spec.resize(ctx.resize_input(source), size, method, on=backend))


def _reference(method: str, source: str, size: int, ctx) -> np.ndarray:
    return ctx.memo(("resize-ref", method, source, size),
                    lambda: spec.reference_resize(ctx.resize_input(source), size, method))


def _matched(method: str, source: str, size: int, backend: str, ctx) -> np.ndarray:
    return resized(ctx, backend, method, source, size)


def _cross(method_a: str, method_b: str, backend: str, source: str, size: int, ctx) -> Sides:
    return Sides(resized(ctx, backend, method_a, source, size), resized(ctx, backend, method_b, source, size),
                 labels=(f"{backend} {method_a}", f"{backend} {method_b}"))


def _matrix(source: str, size: int, ctx) -> Sides:
    """All methods (torch backend; each is matched to its Keras twins above) against each other."""
    names = list(spec.RESIZE_METHODS)
    outs = [resized(ctx, TORCH, m, source, size) for m in names]
    max_abs = [[float(np.abs(x - y).max()) for y in outs] for x in outs]
    mean_abs = [[float(np.abs(x - y).mean()) for y in outs] for x in outs]
    i, j = np.unravel_index(np.argmax(max_abs), (len(names), len(names)))
    return Sides(outs[i], outs[j], labels=(names[i], names[j]),
                 detail={"methods": names, "max_abs": max_abs, "mean_abs": mean_abs,
                         "size_pair": _label(source, size)})


# Named comparisons between methods: (a, b, backend, size pair index, kind, reason).
CROSS_METHOD = [
    ("fastai_v1", "tf_resize", TORCH, 0, "divergence",
     "the thread's size=64: fastai v1 samples an align_corners=True grid (corner pixel centres pinned to the "
     "output corners, scale 31/63) where tf.image.resize uses half-pixel centres (scale 32/64)"),
    ("fastai_v1", "fastai_v1_legacy", TORCH, 0, "divergence",
     "fastai <= 1.0.60 on torch >= 1.3 sampled with align_corners=False: scale n_in/(n_out-1), border clamp"),
    ("fastai_v1", "fastai_v2", TORCH, 0, "divergence",
     "fastai 2 resizes each uint8 item with PIL (half-pixel centres, rounded to uint8)"),
    ("fastai_v1", "keras_resizing", TORCH, 1, "divergence",
     "the thread's Keras side at 224: Resizing is half-pixel bilinear, fastai v1 an align-corners grid"),
    ("torchvision", "torchvision_noaa", TORCH, 2, "divergence",
     "downsampling 384->64: antialias widens the triangle filter by the scale; without it, 2-tap "
     "bilinear skips most source pixels (aliasing)"),
    ("torch_nearest", "tf_nearest", TORCH, 2, "divergence",
     "torch 'nearest' takes floor(dst*in/out), TF half-pixel nearest floor((dst+0.5)*in/out); equal only "
     "when out/in is an integer (32->224)"),
    ("fastai_v1", "interpolate_ac", TORCH, 0, "matched",
     "upsampling, fastai v1's grid_sample is F.interpolate(align_corners=True): reflection never triggers"),
    ("tf_resize", "tf_resize_aa", KERAS, 1, "matched",
     "antialias has no effect when upsampling (the filter support stays one pixel)"),
]


# Readers that resize each file as they load it: (method, the reader call it stands for).
LOAD_METHODS = [
    ("fastai_v1", "fastai 1 ImageDataBunch.from_folder(size=64)"),
    ("fastai_v2", "fastai 2 item_tfms=Resize(64)"),
    ("tf_resize", "keras.utils.image_dataset_from_directory(image_size=(64, 64))"),
    ("keras_smart_resize", "image_dataset_from_directory(image_size=(64, 64), crop_to_aspect_ratio=True)"),
]
LOAD_SIZE = 64
KERAS_READER_DEFAULT = 256  # image_dataset_from_directory(image_size=(256, 256)) unless told otherwise


def _size_key(source: str, size: int) -> str:
    hw = dict((s, hw) for s, hw, _ in SIZE_PAIRS)[source]
    return f"{hw[0]}x{hw[1]}-{size}"


def _mixed_label() -> str:
    return "mixed 300x500,387x320,48x80"


def _loaded(method: str, size: int, backend: str, ctx) -> np.ndarray:
    return ctx.memo(("load", backend, method, size),
                    lambda: spec.load_resize(ctx.mixed_items, size, method, on=backend))


def _loaded_reference(method: str, size: int, ctx) -> np.ndarray:
    return ctx.memo(("load-ref", method, size), lambda: spec.reference_load_resize(ctx.mixed_items, size, method))


def _reader_defaults(ctx) -> Sides:
    """Keras' reader with its default image_size against fastai 2's Resize at the same size (torch backend)."""
    return Sides(_loaded("tf_resize", KERAS_READER_DEFAULT, TORCH, ctx),
                 _loaded("fastai_v2", KERAS_READER_DEFAULT, TORCH, ctx),
                 labels=(f"image_dataset_from_directory default ({KERAS_READER_DEFAULT}x{KERAS_READER_DEFAULT}, "
                         f"stretched)", f"fastai 2 Resize({KERAS_READER_DEFAULT}) (centre crop)"))


TRAIN_EPOCH = 0  # the epoch whose shared crop draws the training-crop cases use


def _train_crop(backend: str, ctx) -> np.ndarray:
    """fastai 2's training-time Resize: each item's box at its own (x, y) from the shared draw."""
    pcts = spec.crop_pcts(len(ctx.mixed_items), ctx.seed, TRAIN_EPOCH)
    return ctx.memo(("train crop", backend),
                    lambda: spec.load_resize(ctx.mixed_items, LOAD_SIZE, "fastai_v2", pcts, on=backend))


def _train_crop_reference(ctx) -> np.ndarray:
    pcts = spec.crop_pcts(len(ctx.mixed_items), ctx.seed, TRAIN_EPOCH)
    return spec.reference_load_resize(ctx.mixed_items, LOAD_SIZE, "fastai_v2", pcts)


def _train_vs_valid_crop(ctx) -> Sides:
    return Sides(_train_crop(TORCH, ctx), _loaded("fastai_v2", LOAD_SIZE, TORCH, ctx),
                 labels=("fastai 2 Resize on training items (random box)", "on validation items (centre box)"))


def _tolerance(method: str) -> str:
    return "pixels_uint8" if spec.RESIZE_METHODS[method].quantized else "pixels_f32"


CASES = [
    *[Case("resize", f"{m} {_label(src, size)}", "matched", partial(_matched, m, src, size), _tolerance(m),
           f"every backend's implementation of {spec.RESIZE_METHODS[m].origin}", across=True,
           reference=partial(_reference, m, src, size), requires=(("resize", m),), key=f"{m}.{_size_key(src, size)}")
      for src, _, size in SIZE_PAIRS for m in spec.RESIZE_METHODS],
    *[Case("resize", f"{a} vs {b} {_label(SIZE_PAIRS[k][0], SIZE_PAIRS[k][2])}", kind,
           partial(_cross, a, b, fw, SIZE_PAIRS[k][0], SIZE_PAIRS[k][2]),
           "pixels_uint8" if "fastai_v2" in (a, b) else "pixels_f32", reason,
           key=f"{a}_vs_{b}.{_size_key(SIZE_PAIRS[k][0], SIZE_PAIRS[k][2])}")
      for a, b, fw, k, kind, reason in CROSS_METHOD],
    *[Case("resize", f"load {m} {_mixed_label()}->{LOAD_SIZE}", "matched", partial(_loaded, m, LOAD_SIZE),
           _tolerance(m), f"{reader} on images of three sizes, item by item, in every backend", across=True,
           reference=partial(_loaded_reference, m, LOAD_SIZE), requires=(("resize", m),), key=f"load.{m}")
      for m, reader in LOAD_METHODS],
    Case("resize", f"load fastai_v2 training crop {_mixed_label()}->{LOAD_SIZE}, shared draws", "matched",
         _train_crop, "pixels_uint8", "fastai 2's Resize crops training items at a random position, a new one "
         "per item and epoch (Resize.before_call); the positions are drawn once (parity.components.resize."
         "crop_pcts) and "
         "handed to every backend, so each crops the same box", across=True, reference=_train_crop_reference,
         requires=(("resize", "fastai_v2"),), key="load.fastai_v2.train_crop"),
    Case("resize", f"load fastai_v2 training vs validation crop {_mixed_label()}->{LOAD_SIZE}", "divergence",
         _train_vs_valid_crop, "pixels_uint8", "fastai 2 crops the centre of validation items only; a training "
         "item's box slides over the room its aspect leaves (200 of 500 columns for the 300x500 item), so the two see "
         "different pixels", key="load.fastai_v2.train_vs_valid"),
    Case("resize", f"load keras default vs fastai_v2 {_mixed_label()}->{KERAS_READER_DEFAULT}", "divergence",
         _reader_defaults, "pixels_uint8",
         "Keras' image_dataset_from_directory resizes every file to its default image_size=(256, 256) by "
         "stretching (bilinear, half-pixel, no antialias, aspect not kept); fastai 2's Resize(256) crops the "
         "centre square first and resamples with PIL's antialiased filter", key="load.keras_default_vs_fastai_v2"),
    *[Case("resize", f"matrix {_label(src, size)}", "divergence", partial(_matrix, src, size), "pixels_uint8",
           "methods differ in sample positions (align corners vs half-pixel), filters (antialias) and rounding; "
           "the matrix gives every pair, the headline is the largest", figure=f"resize_matrix/{_label(src, size)}",
           key=f"matrix.{_size_key(src, size)}")
      for src, _, size in MATRIX_PAIRS],
]
