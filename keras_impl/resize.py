"""Every resize method of parity.resize.RESIZE_METHODS, computed with TensorFlow / Keras ops.

Where TF has the op (tf.image.resize, keras.layers.Resizing) it is called as a Keras user calls it; the
torch-only methods (grid_sample, floor-nearest, align_corners, PIL) are rebuilt from TF ops.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from parity import resize as spec


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


def _fastai_v1(x: tf.Tensor, out_hw, align_corners: bool) -> tf.Tensor:
    h, w = x.shape[1:3]
    target = spec.fastai_v1_resize_target(h, w, out_hw)
    if (pooled := spec.area_prepool_hw(h, w, target)) is not None:
        x = _adaptive_avg_pool(x, pooled)
    y = _grid_sample_reflection(x, _fastai_v1_grid(*target), align_corners)
    top, left = spec.fastai_v1_crop_origin(*target, out_hw)
    return y[:, top:top + out_hw[0], left:left + out_hw[1]]


def _fastai_v2(x: tf.Tensor, out_hw) -> tf.Tensor:
    """PIL's BILINEAR is the antialiased triangle filter, rounded half up to uint8 levels."""
    x = tf.clip_by_value(tf.round(x), 0.0, 255.0)
    top, left, ch, cw = spec.fastai_v2_crop_box(*x.shape[1:3], out_hw)
    y = tf.image.resize(x[:, top:top + ch, left:left + cw], out_hw, antialias=True)
    return tf.clip_by_value(tf.floor(y + 0.5), 0.0, 255.0)


def _tf_call(method: str, x: tf.Tensor, out_hw) -> tf.Tensor:
    if method in ("fastai_v1", "fastai_v1_legacy"):
        return _fastai_v1(x, out_hw, align_corners=method == "fastai_v1")
    if method == "fastai_v2":
        return _fastai_v2(x, out_hw)
    if method == "keras_resizing":
        return keras.layers.Resizing(*out_hw)(x)
    if method == "interpolate_ac":
        return tf.raw_ops.ResizeBilinear(images=x, size=out_hw, align_corners=True, half_pixel_centers=False)
    if method == "torch_nearest":  # TF1's legacy nearest scaler is torch's floor(dst * in / out)
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=out_hw, align_corners=False,
                                                half_pixel_centers=False)
    if method == "tf_nearest":
        return tf.image.resize(x, out_hw, method="nearest")
    # torchvision's and tf's antialias are the same triangle filter; the rest is half-pixel bilinear
    return tf.image.resize(x, out_hw, antialias=method in ("torchvision", "tf_resize_aa"))


def resize(images, size, method: str) -> np.ndarray:
    """Resize NHWC float32 images (0-255) to `size` with `method`; returns NHWC float32."""
    spec.get_method(method)
    images = spec.check_images(images)
    out_hw = spec.target_hw(size)
    return _tf_call(method, tf.constant(images, tf.float32), out_hw).numpy()
