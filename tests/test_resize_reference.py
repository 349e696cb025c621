"""The float64 resize reference against hand-computed values and upstream geometry rules."""

import numpy as np
import pytest

from parity.components import resize as spec


def _row(values) -> np.ndarray:
    """A 1xW single-channel image as NHWC."""
    return np.asarray(values, np.float64).reshape(1, 1, -1, 1)


def _resize_row(values, width, method):
    x = np.repeat(_row(values), 2, axis=1)  # 2 rows, so stretch methods keep height 2
    return spec.reference_resize(x, (2, width), method)[0, 0, :, 0]


def test_align_corners_pins_the_end_pixels():
    np.testing.assert_allclose(_resize_row([0, 30], 4, "interpolate_ac"), [0, 10, 20, 30])


def test_half_pixel_clamps_at_the_borders():
    # src = (i + 0.5) * 2/4 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamp to [0, 1]
    np.testing.assert_allclose(_resize_row([0, 40], 4, "tf_resize"), [0, 10, 30, 40])


def test_nearest_rules_differ_on_non_integer_ratios():
    # 3 -> 2: floor(i * 3/2) = 0, 1; floor((i + 0.5) * 3/2) = 0, 2
    np.testing.assert_array_equal(_resize_row([5, 6, 7], 2, "torch_nearest"), [5, 6])
    np.testing.assert_array_equal(_resize_row([5, 6, 7], 2, "tf_nearest"), [5, 7])


def test_antialias_averages_when_shrinking():
    # 4 -> 2: support 2, centres 1 and 3; tap weights (.75, .75, .25, 0) and (0, .25, .75, .75), over 1.75
    np.testing.assert_allclose(_resize_row([0, 8, 16, 24], 2, "torchvision"), [10 / 1.75, 32 / 1.75])


def test_legacy_grid_scale_is_n_over_n_minus_one():
    # align_corners=False grid: src = i * 2/(4-1) - 0.5 = -0.5, 0.1667, 0.8333, 1.5 -> clamp
    np.testing.assert_allclose(_resize_row([0, 30], 4, "fastai_v1_legacy"), [0, 5, 25, 30])


@pytest.mark.parametrize("method", ["tf_resize", "torchvision", "interpolate_ac", "fastai_v1", "tf_nearest"])
def test_same_size_is_identity(method):
    x = np.random.default_rng(0).uniform(0, 255, (1, 7, 5, 3))
    np.testing.assert_allclose(spec.reference_resize(x, (7, 5), method), x, atol=1e-12)


def test_fastai_v1_crop_geometry():
    # 40x32 to 32: cover the target keeping aspect (40x32), then centre-crop rows int((40-32+1)*0.5) = 4
    assert spec.fastai_v1_resize_target(40, 32, (32, 32)) == (40, 32)
    assert spec.fastai_v1_crop_origin(40, 32, (32, 32)) == (4, 0)
    assert spec.reference_resize(np.zeros((1, 40, 32, 3)), 32, "fastai_v1").shape == (1, 32, 32, 3)


def test_fastai_v2_crop_box():
    assert spec.fastai_v2_crop_box(427, 640, (64, 64)) == (0, 106, 427, 427)


def test_area_prepool_only_when_shrinking_more_than_2x():
    assert spec.area_prepool_hw(32, 32, (64, 64)) is None
    assert spec.area_prepool_hw(100, 100, (50, 50)) is None
    assert spec.area_prepool_hw(427, 640, (64, 96)) == (128, 192)
