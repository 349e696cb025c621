"""Every resize method of parity.components.resize.RESIZE_METHODS that Keras expresses, computed as a Keras user would.

Bilinear and nearest resizes (with and without antialias) are keras.ops.image.resize / keras.layers.Resizing
on either backend. The torch-only methods (grid_sample, floor-nearest, align_corners, PIL) are rebuilt from
TensorFlow ops, so they exist on keras_tf only; parity.runtime.backends declares them unsupported on keras_torch.
"""

from __future__ import annotations

from functools import partial

import keras
import numpy as np

from keras_impl._backend import ON_TF
from parity.components import resize as spec


def _ops(images: np.ndarray, out_hw, interpolation: str, antialias: bool = False) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.ops.image.resize(images, out_hw, interpolation=interpolation,
                                                             antialias=antialias))


def _resizing_layer(images: np.ndarray, out_hw) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.layers.Resizing(*out_hw)(images))


def _smart_resize(images: np.ndarray, out_hw) -> np.ndarray:
    return keras.ops.convert_to_numpy(keras.preprocessing.image.smart_resize(images, out_hw, interpolation="bilinear"))


# Methods keras.ops expresses on every backend: half-pixel bilinear (antialiased or not) and nearest.
METHODS = {
    "torchvision": partial(_ops, interpolation="bilinear", antialias=True),  # the same triangle filter
    "torchvision_noaa": partial(_ops, interpolation="bilinear"),
    "interpolate": partial(_ops, interpolation="bilinear"),
    "tf_resize": partial(_ops, interpolation="bilinear"),
    "tf_resize_aa": partial(_ops, interpolation="bilinear", antialias=True),
    "keras_resizing": _resizing_layer,
    "keras_smart_resize": _smart_resize,
    "tf_nearest": partial(_ops, interpolation="nearest"),
}

if ON_TF:  # the torch-only methods, rebuilt from TensorFlow ops
    import tensorflow as tf

    def _fastai_v1_grid(h: int, w: int) -> tf.Tensor:
        """fastai v1 `_affine_grid`: (h, w, 2) of x then y, each linspace(-1, 1) in float32."""
        gx, gy = tf.meshgrid(tf.linspace(-1.0, 1.0, w), tf.linspace(-1.0, 1.0, h))
        return tf.stack([gx, gy], axis=-1)

    def _reflect(coord: tf.Tensor, low: float, high: float) -> tf.Tensor:
        """torch grid_sampler `reflect_coordinates` (period 2 * (high - low)), then clip to the pixel range."""
        span = high - low
        rel = tf.abs(coord - low)
        flips = tf.floor(rel / span)
        extra = rel - flips * span
        return tf.where(tf.math.floormod(flips, 2) == 0, extra + low, span - extra + low)

    def _grid_sample_reflection(x: tf.Tensor, grid: tf.Tensor, align_corners: bool) -> tf.Tensor:
        """torch F.grid_sample(mode='bilinear', padding_mode='reflection') for NHWC `x` and one (h, w, 2) grid."""
        size = tf.cast(tf.shape(x)[1:3], tf.float32)  # (H, W)
        gx, gy = grid[..., 0], grid[..., 1]
        if align_corners:
            sx, sy = (gx + 1) / 2 * (size[1] - 1), (gy + 1) / 2 * (size[0] - 1)
            sx, sy = _reflect(sx, 0.0, size[1] - 1), _reflect(sy, 0.0, size[0] - 1)
        else:
            sx, sy = ((gx + 1) * size[1] - 1) / 2, ((gy + 1) * size[0] - 1) / 2
            sx, sy = _reflect(sx, -0.5, size[1] - 0.5), _reflect(sy, -0.5, size[0] - 0.5)
        sx, sy = tf.clip_by_value(sx, 0.0, size[1] - 1), tf.clip_by_value(sy, 0.0, size[0] - 1)
        x0, y0 = tf.floor(sx), tf.floor(sy)
        fx, fy = (sx - x0)[None, ..., None], (sy - y0)[None, ..., None]
        x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)
        x1 = tf.minimum(x0 + 1, tf.shape(x)[2] - 1)
        y1 = tf.minimum(y0 + 1, tf.shape(x)[1] - 1)

        def tap(yi, xi):  # (N, h, w, C)
            return tf.gather(tf.gather(x, yi[:, 0], axis=1), xi[0], axis=2)

        top = tap(y0, x0) * (1 - fx) + tap(y0, x1) * fx
        bottom = tap(y1, x0) * (1 - fx) + tap(y1, x1) * fx
        return top * (1 - fy) + bottom * fy

    def _adaptive_avg_pool(x: tf.Tensor, out_hw) -> tf.Tensor:
        """F.interpolate(mode='area') == adaptive average pooling over bins [floor(i*n/m), ceil((i+1)*n/m))."""
        h, w = x.shape[1:3]
        rows = [tf.reduce_mean(x[:, (i * h) // out_hw[0]:-((-(i + 1) * h) // out_hw[0])], axis=1, keepdims=True)
                for i in range(out_hw[0])]
        x = tf.concat(rows, axis=1)
        cols = [tf.reduce_mean(x[:, :, (j * w) // out_hw[1]:-((-(j + 1) * w) // out_hw[1])], axis=2, keepdims=True)
                for j in range(out_hw[1])]
        return tf.concat(cols, axis=2)

    def _fastai_v1(images: np.ndarray, out_hw, align_corners: bool) -> np.ndarray:
        x = tf.constant(images, tf.float32)
        h, w = x.shape[1:3]
        target = spec.fastai_v1_resize_target(h, w, out_hw)
        if (pooled := spec.area_prepool_hw(h, w, target)) is not None:
            x = _adaptive_avg_pool(x, pooled)
        y = _grid_sample_reflection(x, _fastai_v1_grid(*target), align_corners)
        top, left = spec.fastai_v1_crop_origin(*target, out_hw)
        return y[:, top:top + out_hw[0], left:left + out_hw[1]].numpy()

    def _fastai_v2(images: np.ndarray, out_hw, pcts=None) -> np.ndarray:
        """PIL's BILINEAR is the antialiased triangle filter, rounded half up to uint8 levels. Each item's box at
        its crop position (`pcts`, training items: boxes of one size, so one batched resize) or at the centre."""
        x = tf.clip_by_value(tf.round(tf.constant(images, tf.float32)), 0.0, 255.0)
        if pcts is None:
            top, left, ch, cw = spec.fastai_v2_crop_box(*x.shape[1:3], out_hw)
            crops = x[:, top:top + ch, left:left + cw]
        else:
            boxes = [spec.fastai_v2_crop_box(*x.shape[1:3], out_hw, p) for p in pcts]
            crops = tf.stack([x[i, top:top + ch, left:left + cw] for i, (top, left, ch, cw) in enumerate(boxes)])
        y = tf.image.resize(crops, out_hw, antialias=True)
        return tf.clip_by_value(tf.floor(y + 0.5), 0.0, 255.0).numpy()

    def _raw(images: np.ndarray, out_hw, op) -> np.ndarray:
        return op(images=tf.constant(images, tf.float32), size=out_hw, half_pixel_centers=False,
                  align_corners=op is tf.raw_ops.ResizeBilinear).numpy()

    METHODS.update({
        "fastai_v1": partial(_fastai_v1, align_corners=True),
        "fastai_v1_legacy": partial(_fastai_v1, align_corners=False),
        "fastai_v2": _fastai_v2,
        "interpolate_ac": partial(_raw, op=tf.raw_ops.ResizeBilinear),  # align_corners=True
        "torch_nearest": partial(_raw, op=tf.raw_ops.ResizeNearestNeighbor),  # TF1's floor(dst * in / out)
    })


def resize(images, out_hw, method: str, pcts=None) -> np.ndarray:
    """NHWC float32 images (0-255) resized to out_hw with `method`; NHWC float32. `pcts`: per-item crop
    positions of fastai_v2's training-time crop."""
    x = np.asarray(images, np.float32)
    return METHODS[method](x, tuple(out_hw)) if pcts is None else METHODS[method](x, tuple(out_hw), pcts)
