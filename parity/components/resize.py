"""Resize methods as data, their crop geometry, and a float64 reference built from 1-D weight matrices.

Every method a user of either framework meets is listed once in RESIZE_METHODS. Each is separable (rows
and columns are resampled independently), so the float64 reference is `A_rows @ image @ A_cols.T` with
the matrices written from the upstream definitions. Images cross this boundary as NHWC float32 in
0-255 pixel units; `size` is an int (square) or (height, width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from parity.core.errors import ParityError, unknown
from parity.runtime.backends import check_supported
from parity.runtime.client import client


@dataclass(frozen=True)
class ResizeMethod:
    name: str
    origin: str  # the library call a user writes
    kernel: str  # 1-D weight rule, see _axis_weights
    crop: str = "stretch"  # 'stretch', 'fastai_v1' (resize then centre crop), 'fastai_v2' / 'keras_smart'
    #                        (centre crop to the target's aspect, then resize)
    area_prepool: bool = False  # fastai v1 area-averages first when shrinking by more than 2x
    quantized: bool = False  # output rounded to uint8 levels (PIL)


RESIZE_METHODS = {m.name: m for m in [
    ResizeMethod("fastai_v1",
                 "fastai 1.0.61 size=N: crop_pad + F.grid_sample(bilinear, reflection, align_corners=True)",
                 "grid_align_corners", crop="fastai_v1", area_prepool=True),
    ResizeMethod("fastai_v1_legacy", "fastai <= 1.0.60 on torch >= 1.3: grid_sample with align_corners=False",
                 "grid_legacy", crop="fastai_v1", area_prepool=True),
    ResizeMethod("fastai_v2", "fastai 2 Resize(N): centre crop, PIL Image.resize(BILINEAR) on the uint8 item",
                 "antialias", crop="fastai_v2", quantized=True),
    ResizeMethod("torchvision", "torchvision.transforms.v2.Resize((h, w)) (antialias=True)", "antialias"),
    ResizeMethod("torchvision_noaa", "torchvision.transforms.v2.Resize((h, w), antialias=False)", "half_pixel"),
    ResizeMethod("interpolate", "F.interpolate(mode='bilinear', align_corners=False)", "half_pixel"),
    ResizeMethod("interpolate_ac", "F.interpolate(mode='bilinear', align_corners=True)", "align_corners"),
    ResizeMethod("tf_resize", "tf.image.resize(method='bilinear', antialias=False)", "half_pixel"),
    ResizeMethod("tf_resize_aa", "tf.image.resize(method='bilinear', antialias=True)", "antialias"),
    ResizeMethod("keras_resizing", "keras.layers.Resizing(h, w) (bilinear, no crop)", "half_pixel"),
    ResizeMethod("keras_smart_resize", "keras.preprocessing.image.smart_resize (image_dataset_from_directory "
                 "with crop_to_aspect_ratio=True): centre crop to the target's aspect, then bilinear",
                 "half_pixel", crop="keras_smart"),
    ResizeMethod("torch_nearest", "F.interpolate(mode='nearest'): floor(dst * in / out)", "nearest_floor"),
    ResizeMethod("tf_nearest", "tf.image.resize(method='nearest'): half-pixel centres", "nearest_half"),
]}


def get_method(name: str) -> ResizeMethod:
    if name not in RESIZE_METHODS:
        raise unknown("resize method", name, RESIZE_METHODS)
    return RESIZE_METHODS[name]


def target_hw(size) -> tuple[int, int]:
    """`64` -> (64, 64); `(48, 64)` -> (48, 64); anything else is an error naming the value."""
    hw = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(hw) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in hw):
        raise ParityError(f"resize size {size!r} is not a positive int or a (height, width) pair")
    return int(hw[0]), int(hw[1])


def check_images(images) -> np.ndarray:
    """Boundary check: NHWC with 1 or 3 channels, finite values."""
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ParityError(f"images must be NHWC with 1 or 3 channels, got shape {arr.shape}")
    return arr


def resize(images, size, method: str, pcts=None, *, on: str) -> np.ndarray:
    """`images` (NHWC, 0-255) resized to `size` by `method` as backend `on` computes it; NHWC float32. `pcts`:
    per-item crop positions of fastai_v2's training-time random crop (crop_pcts), else its centre crop."""

    get_method(method)
    images = check_images(images)
    pcts = check_pcts(method, pcts, len(images))
    out_hw = target_hw(size)
    check_supported(on, "resize", method)
    return client(on).resize.resize(np.asarray(images, np.float32), out_hw, method, pcts)


def _per_shape(items, size, compute, pcts=None) -> np.ndarray:
    """Items of mixed (h, w) resized group by group, each group in one call (`compute(batch, its pcts)`);
    NHWC float32 in item order."""
    if not len(items):
        raise ParityError("no images to resize")
    channels = {np.shape(item)[-1] for item in items}
    if len(channels) != 1:
        raise ParityError(f"images differ in channel count: {sorted(channels)}")
    out = np.empty((len(items), *target_hw(size), channels.pop()), np.float32)
    groups: dict = {}
    for i, item in enumerate(items):
        groups.setdefault(np.shape(item), []).append(i)
    for index in groups.values():
        out[index] = compute(np.stack([np.asarray(items[i], np.float32) for i in index]),
                             None if pcts is None else np.asarray(pcts)[index])
    return out


def load_resize(items, size, method: str, pcts=None, *, on: str) -> np.ndarray:
    """HWC images of any sizes resized one by one as a reader does when it loads them (fastai's item
    transforms, Keras' image_dataset_from_directory): NHWC float32 of `size`. `pcts`: as for resize()."""
    get_method(method)
    check_pcts(method, pcts, len(items))
    return _per_shape(items, size, lambda batch, p: resize(batch, size, method, p, on=on), pcts)


def reference_load_resize(items, size, method: str, pcts=None) -> np.ndarray:
    return _per_shape(items, size, lambda batch, p: reference_resize(batch, size, method, p), pcts)


# --- crop geometry (shared by both frameworks: it is integer arithmetic, not numerics) ---------------

def fastai_v1_resize_target(h: int, w: int, out_hw: tuple[int, int]) -> tuple[int, int]:
    """fastai v1 `_get_resize_target(do_crop=True)`: scale so the image covers the target, keep aspect."""
    ratio = min(h / out_hw[0], w / out_hw[1])
    return int(round(h / ratio)), int(round(w / ratio))


def fastai_v1_crop_origin(h: int, w: int, out_hw: tuple[int, int]) -> tuple[int, int]:
    """fastai v1 `_crop_pad_default` with row_pct = col_pct = 0.5 (the validation/no-tfms crop)."""
    return int((h - out_hw[0] + 1) * 0.5), int((w - out_hw[1] + 1) * 0.5)


CENTRE = (0.5, 0.5)  # fastai 2's crop position for validation items


def fastai_v2_crop_box(h: int, w: int, out_hw: tuple[int, int], pcts=CENTRE) -> tuple[int, int, int, int]:
    """fastai 2 `Resize(method='crop')`: (top, left, height, width) of the box with the target's aspect.
    `pcts` is fastai's (x, y) position of the box in the room left over: (0.5, 0.5) on validation items, two
    random.random() draws per training item per epoch (`Resize.before_call`)."""
    m = w / out_hw[1] if w / out_hw[1] < h / out_hw[0] else h / out_hw[0]
    cw, ch = int(m * out_hw[1]), int(m * out_hw[0])
    return int(pcts[1] * (h - ch)), int(pcts[0] * (w - cw)), ch, cw


LOAD_CROPS = {
    "centre": "every item's box at the centre (Keras' readers; fastai on validation items)",
    "random": "fastai 2's Resize on training items: each item's box at a random (x, y), drawn anew every epoch",
}


def check_load_crop(name: str) -> str:
    if name not in LOAD_CROPS:
        raise unknown("load crop", name, LOAD_CROPS)
    return name


def crop_pcts(n_items: int, seed: int, epoch: int) -> np.ndarray:
    """(n_items, 2) crop positions for one epoch of training items, fastai's (x, y) order: drawn once here, from
    (seed, epoch), and handed to every framework, so all crop the same window (fastai draws them from Python's
    `random` inside each worker; the draws' source differs, their distribution and use do not)."""
    return np.random.default_rng([seed, epoch, 2]).random((n_items, 2))


def check_pcts(method: str, pcts, n_items: int):
    """Crop positions are for the per-item random crop of fastai_v2 only: one (x, y) in [0, 1] per item."""
    if pcts is None:
        return None
    if get_method(method).crop != "fastai_v2":
        raise ParityError(f"crop positions (pcts) apply to the fastai_v2 resize only, not to {method!r}")
    arr = np.asarray(pcts, np.float64)
    if arr.shape != (n_items, 2) or not np.all((arr >= 0) & (arr <= 1)):
        raise ParityError(f"crop positions must be ({n_items}, 2) values in [0, 1], got shape {arr.shape}")
    return arr


def keras_smart_crop_box(h: int, w: int, out_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """keras `smart_resize`: (top, left, height, width) of the largest centred box with the target's aspect."""
    ch = max(min(h, int(float(w * out_hw[0]) / out_hw[1])), 1)
    cw = max(min(w, int(float(h * out_hw[1]) / out_hw[0])), 1)
    return int(float(h - ch) / 2), int(float(w - cw) / 2), ch, cw


def crop_box(crop: str, h: int, w: int, out_hw: tuple[int, int], pcts=CENTRE) -> tuple[int, int, int, int] | None:
    """The box a crop-then-resize method keeps (fastai_v2's at `pcts`), or None for the others."""
    if crop == "fastai_v2":
        return fastai_v2_crop_box(h, w, out_hw, pcts)
    return keras_smart_crop_box(h, w, out_hw) if crop == "keras_smart" else None


def area_prepool_hw(h: int, w: int, target: tuple[int, int]) -> tuple[int, int] | None:
    """fastai v1 `_grid_sample` hack: if shrinking by more than 2x, area-interpolate by 1/d first.

    d = min(h/th, w/tw)/2; the zoom z of a plain resize grid is 1, so the test `d > 1 and d > z` is d > 1.
    F.interpolate(scale_factor=1/d, recompute_scale_factor=True) gives floor(n * (1/d)).
    """
    d = min(h / target[0], w / target[1]) / 2
    if d <= 1:
        return None
    return math.floor(h * (1 / d)), math.floor(w * (1 / d))


# --- float64 reference ----------------------------------------------------------------------------------

def _linear_weights(src: np.ndarray, n_in: int) -> np.ndarray:
    """Two-tap linear interpolation at source coordinates `src`, clamped to the valid pixel range."""
    src = np.clip(src, 0.0, n_in - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    mat = np.zeros((len(src), n_in))
    np.add.at(mat, (np.arange(len(src)), lo), 1.0 - frac)
    np.add.at(mat, (np.arange(len(src)), hi), frac)
    return mat


def _antialias_weights(n_in: int, n_out: int) -> np.ndarray:
    """PIL's triangle filter (also torch antialias=True and TF scale_and_translate): support grows on shrink."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    taps = (np.arange(n_in)[None, :] + 0.5 - centres[:, None]) / support
    mat = np.clip(1.0 - np.abs(taps), 0.0, None)
    return mat / mat.sum(axis=1, keepdims=True)


def _reflect(src: np.ndarray, low: float, high: float) -> np.ndarray:
    """torch grid_sampler `reflect_coordinates` between low and high (one bounce suffices for a resize grid)."""
    src = np.where(src < low, 2 * low - src, src)
    return np.where(src > high, 2 * high - src, src)


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """Adaptive average pooling bins [floor(i*in/out), ceil((i+1)*in/out)) = F.interpolate(mode='area')."""
    mat = np.zeros((n_out, n_in))
    for i in range(n_out):
        start, end = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        mat[i, start:end] = 1.0 / (end - start)
    return mat


def _axis_weights(kernel: str, n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 matrix of one axis of a resize."""
    i = np.arange(n_out, dtype=np.float64)
    if kernel == "half_pixel":
        return _linear_weights((i + 0.5) * n_in / n_out - 0.5, n_in)
    if kernel in ("align_corners", "grid_align_corners"):
        return _linear_weights(i * (n_in - 1) / max(n_out - 1, 1), n_in)
    if kernel == "grid_legacy":  # x = linspace(-1, 1); src = ((x + 1) * n_in - 1) / 2
        src = (np.linspace(-1.0, 1.0, n_out) + 1) * n_in / 2 - 0.5
        return _linear_weights(_reflect(src, -0.5, n_in - 0.5), n_in)
    if kernel == "antialias":
        return _antialias_weights(n_in, n_out)
    idx = np.arange(n_out)
    if kernel == "nearest_floor":
        src = np.minimum(idx * n_in // n_out, n_in - 1)
    elif kernel == "nearest_half":
        src = np.minimum((2 * idx + 1) * n_in // (2 * n_out), n_in - 1)
    else:
        raise unknown("resize kernel", kernel, ["half_pixel", "align_corners", "grid_align_corners",
                                                 "grid_legacy", "antialias", "nearest_floor", "nearest_half"])
    mat = np.zeros((n_out, n_in))
    mat[idx, src] = 1.0
    return mat


def _apply_separable(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    # x: (N, H, W, C) -> (N, rows.shape[0], cols.shape[0], C)
    return np.einsum("oh,nhwc,pw->nopc", rows, x, cols, optimize=True)


def reference_resize(images, size, method: str, pcts=None) -> np.ndarray:
    """The float64 ground truth of `method`, before any uint8 rounding the method itself applies."""
    spec = get_method(method)
    x = check_images(images).astype(np.float64)
    out_hw = target_hw(size)
    if (pcts := check_pcts(method, pcts, len(x))) is not None:  # a box per item: one at a time
        return np.concatenate([_reference_one(x[i:i + 1], out_hw, spec, p) for i, p in enumerate(pcts)])
    return _reference_one(x, out_hw, spec, CENTRE)


def _reference_one(x: np.ndarray, out_hw, spec: ResizeMethod, pcts) -> np.ndarray:
    h, w = x.shape[1:3]
    if (box := crop_box(spec.crop, h, w, out_hw, pcts)) is not None:
        top, left, h, w = box
        x = x[:, top:top + h, left:left + w]
    grid_hw = fastai_v1_resize_target(h, w, out_hw) if spec.crop == "fastai_v1" else out_hw
    if spec.area_prepool and (pooled := area_prepool_hw(h, w, grid_hw)) is not None:
        x = _apply_separable(x, _area_weights(h, pooled[0]), _area_weights(w, pooled[1]))
        h, w = pooled
    y = _apply_separable(x, _axis_weights(spec.kernel, h, grid_hw[0]), _axis_weights(spec.kernel, w, grid_hw[1]))
    if spec.crop == "fastai_v1":
        top, left = fastai_v1_crop_origin(*grid_hw, out_hw)
        y = y[:, top:top + out_hw[0], left:left + out_hw[1]]
    return y
