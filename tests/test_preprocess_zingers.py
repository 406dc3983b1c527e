"""Zinger removal on an image with injected bright outliers."""

from __future__ import annotations

import numpy as np
import pytest

from tomosnake.errors import ConfigError
from tomosnake.preprocess import remove_outlier


def _image_with_zingers(seed: int = 0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :80]
    clean = 0.6 + 0.3 * np.exp(-((yy - 30) ** 2 + (xx - 40) ** 2) / 300.0)
    noisy = clean + rng.normal(0, 0.01, clean.shape)
    img = noisy.copy()
    idx = rng.choice(img.size, 40, replace=False)
    img.flat[idx] += rng.uniform(0.3, 2.0, idx.size)
    return noisy.astype(np.float32), img.astype(np.float32), idx


def test_injected_zingers_removed_and_rest_kept():
    noisy, img, idx = _image_with_zingers()
    out = remove_outlier(np.stack([img, img]))[1]
    # every zinger is brought back to the local level (within 5 noise sigma)
    assert np.abs(out.flat[idx] - noisy.flat[idx]).max() < 0.05
    # almost nothing else changes
    changed = np.flatnonzero(out != img)
    assert set(idx) <= set(changed)
    assert changed.size - idx.size <= 0.001 * img.size


def test_absolute_threshold_and_2d_input():
    _, img, idx = _image_with_zingers(1)
    out = remove_outlier(img, dif=5.0)  # above every zinger: nothing changes
    np.testing.assert_array_equal(out, img)
    out = remove_outlier(img, dif=0.25)
    assert np.all(out.flat[idx] < 1.0)


def test_single_row_projections():
    row = np.full((3, 1, 50), 1.0, np.float32)
    row[1, 0, 20] = 9.0
    out = remove_outlier(row)
    assert out[1, 0, 20] == pytest.approx(1.0)


def test_bad_window():
    with pytest.raises(ConfigError):
        remove_outlier(np.ones((4, 4)), size=4)
