"""Every resize method of parity.resize.RESIZE_METHODS, computed with the torch-side call a user makes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image

from parity import resize as spec


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2)  # NHWC -> NCHW


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # NCHW -> NHWC


def _fastai_v1_grid(h: int, w: int) -> torch.Tensor:
    """fastai v1 `_affine_grid`: (1, h, w, 2) of x then y, each torch.linspace(-1, 1) in float32."""
    grid = torch.empty(1, h, w, 2)
    grid[..., 0] = torch.outer(torch.ones(h), torch.linspace(-1, 1, w))
    grid[..., 1] = torch.outer(torch.linspace(-1, 1, h), torch.ones(w))
    return grid


def _fastai_v1(x: torch.Tensor, out_hw, align_corners: bool) -> torch.Tensor:
    h, w = x.shape[2:]
    target = spec.fastai_v1_resize_target(h, w, out_hw)
    if (pooled := spec.area_prepool_hw(h, w, target)) is not None:
        x = F.interpolate(x, size=pooled, mode="area")
    grid = _fastai_v1_grid(*target).expand(x.shape[0], -1, -1, -1)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=align_corners)
    top, left = spec.fastai_v1_crop_origin(*target, out_hw)
    return y[:, :, top:top + out_hw[0], left:left + out_hw[1]]


def _fastai_v2(images: np.ndarray, out_hw) -> np.ndarray:
    """PIL on each uint8 item, as fastai 2's Resize does before batching (inputs are rounded to uint8)."""
    items = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    out = []
    for item in items:
        top, left, ch, cw = spec.fastai_v2_crop_box(*item.shape[:2], out_hw)
        pil = Image.fromarray(item[top:top + ch, left:left + cw].squeeze(-1) if item.shape[-1] == 1
                              else item[top:top + ch, left:left + cw])
        out.append(np.asarray(pil.resize((out_hw[1], out_hw[0]), Image.BILINEAR)).reshape(*out_hw, -1))
    return np.stack(out).astype(np.float32)


def _torch_call(method: str, x: torch.Tensor, out_hw) -> torch.Tensor:
    if method == "fastai_v1":
        return _fastai_v1(x, out_hw, align_corners=True)
    if method == "fastai_v1_legacy":
        return _fastai_v1(x, out_hw, align_corners=False)
    if method in ("torchvision", "torchvision_noaa"):
        return TF.resize(x, list(out_hw), antialias=method == "torchvision")
    if method == "interpolate_ac":
        return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=True)
    if method in ("tf_resize_aa",):  # TF's triangle-kernel scale_and_translate is torch's antialias
        return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False, antialias=True)
    if method == "torch_nearest":
        return F.interpolate(x, size=out_hw, mode="nearest")
    if method == "tf_nearest":  # TF's half-pixel nearest is torch's 'nearest-exact'
        return F.interpolate(x, size=out_hw, mode="nearest-exact")
    # interpolate, tf_resize, keras_resizing: bilinear with half-pixel centres, no antialias
    return F.interpolate(x, size=out_hw, mode="bilinear", align_corners=False)


def resize(images, size, method: str) -> np.ndarray:
    """Resize NHWC float32 images (0-255) to `size` with `method`; returns NHWC float32."""
    spec.get_method(method)
    images = spec.check_images(images)
    out_hw = spec.target_hw(size)
    if method == "fastai_v2":
        return _fastai_v2(images, out_hw)
    with torch.no_grad():
        return _nhwc(_torch_call(method, _nchw(images), out_hw))
