"""Every resize method of parity.components.resize.RESIZE_METHODS, computed with the torch-side call a user makes."""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image

from parity.components import resize as spec


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


def _fastai_v1(images: np.ndarray, out_hw, align_corners: bool) -> np.ndarray:
    x = _nchw(images)
    h, w = x.shape[2:]
    target = spec.fastai_v1_resize_target(h, w, out_hw)
    if (pooled := spec.area_prepool_hw(h, w, target)) is not None:
        x = F.interpolate(x, size=pooled, mode="area")
    grid = _fastai_v1_grid(*target).expand(x.shape[0], -1, -1, -1)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=align_corners)
    top, left = spec.fastai_v1_crop_origin(*target, out_hw)
    return _nhwc(y[:, :, top:top + out_hw[0], left:left + out_hw[1]])


def _fastai_v2(images: np.ndarray, out_hw, pcts=None) -> np.ndarray:
    """PIL on each uint8 item, as fastai 2's Resize does before batching (inputs are rounded to uint8); each
    item's box at its crop position (`pcts`, training items) or at the centre."""
    items = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    out = []
    for i, item in enumerate(items):
        top, left, ch, cw = spec.fastai_v2_crop_box(*item.shape[:2], out_hw,
                                                    spec.CENTRE if pcts is None else pcts[i])
        pil = Image.fromarray(item[top:top + ch, left:left + cw].squeeze(-1) if item.shape[-1] == 1
                              else item[top:top + ch, left:left + cw])
        out.append(np.asarray(pil.resize((out_hw[1], out_hw[0]), Image.BILINEAR)).reshape(*out_hw, -1))
    return np.stack(out).astype(np.float32)


def _keras_smart(images: np.ndarray, out_hw) -> np.ndarray:
    top, left, ch, cw = spec.keras_smart_crop_box(*images.shape[1:3], out_hw)
    return _interpolate(images[:, top:top + ch, left:left + cw], out_hw, mode="bilinear", align_corners=False)


def _torchvision(images: np.ndarray, out_hw, antialias: bool) -> np.ndarray:
    return _nhwc(TF.resize(_nchw(images), list(out_hw), antialias=antialias))


def _interpolate(images: np.ndarray, out_hw, **kwargs) -> np.ndarray:
    return _nhwc(F.interpolate(_nchw(images), size=out_hw, **kwargs))


# Every method of parity.components.resize.RESIZE_METHODS, each with the call a torch user writes for it.
METHODS = {
    "fastai_v1": partial(_fastai_v1, align_corners=True),
    "fastai_v1_legacy": partial(_fastai_v1, align_corners=False),
    "fastai_v2": _fastai_v2,
    "torchvision": partial(_torchvision, antialias=True),
    "torchvision_noaa": partial(_torchvision, antialias=False),
    "interpolate": partial(_interpolate, mode="bilinear", align_corners=False),
    "interpolate_ac": partial(_interpolate, mode="bilinear", align_corners=True),
    "tf_resize": partial(_interpolate, mode="bilinear", align_corners=False),  # half-pixel bilinear
    "tf_resize_aa": partial(_interpolate, mode="bilinear", align_corners=False, antialias=True),  # TF's triangle
    "keras_resizing": partial(_interpolate, mode="bilinear", align_corners=False),
    "keras_smart_resize": _keras_smart,  # its crop box, then half-pixel bilinear
    "torch_nearest": partial(_interpolate, mode="nearest"),
    "tf_nearest": partial(_interpolate, mode="nearest-exact"),  # TF's half-pixel nearest
}


def resize(images, out_hw, method: str, pcts=None) -> np.ndarray:
    """NHWC float32 images (0-255) resized to out_hw with `method`; NHWC float32. `pcts`: per-item crop
    positions of fastai_v2's training-time crop."""
    with torch.no_grad():
        if pcts is not None:  # only fastai_v2 takes crop positions (parity.components.resize.check_pcts)
            return METHODS[method](images, tuple(out_hw), pcts)
        return METHODS[method](images, tuple(out_hw))
