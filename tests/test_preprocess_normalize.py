"""Flat/dark normalisation and minus-log against tomopy's stored output and on bad fields."""

from __future__ import annotations

import numpy as np
import pytest

from tomosnake.errors import InputError
from tomosnake.preprocess import minus_log, normalize


@pytest.fixture(scope="module")
def ref(shared_data):
    d = shared_data / "real_scans" / "tomopy_reference"
    return {k: np.load(d / f"{k}.npy") for k in ("tomo", "flat", "dark", "normalize")}


def test_normalize_equals_tomopy(ref):
    out = normalize(ref["tomo"], ref["flat"], ref["dark"])
    assert out.dtype == np.float32 and out.shape == ref["normalize"].shape
    # tomopy.normalize(tomo, flat, dark) stored by tomopy's test suite: identical bits here
    np.testing.assert_allclose(out, ref["normalize"], rtol=1e-6, atol=0)


def test_normalize_cutoff_and_2d_fields(ref):
    out = normalize(ref["tomo"], ref["flat"][0], ref["dark"][0], cutoff=0.5)
    assert out.max() == pytest.approx(0.5)
    expect = np.minimum(ref["normalize"], 0.5)
    np.testing.assert_allclose(out, expect, rtol=1e-6)


def test_all_dark_flat_is_an_input_error():
    proj = np.ones((3, 4, 5), np.uint16)
    with pytest.raises(InputError, match="not brighter than the dark"):
        normalize(proj, np.zeros((2, 4, 5)), np.zeros((1, 4, 5)))
    with pytest.raises(InputError, match="not brighter than the dark"):
        normalize(proj, np.full((2, 4, 5), 10), np.full((1, 4, 5), 10))


def test_dead_flat_pixels_are_clipped_like_tomopy():
    proj = np.full((2, 3, 4), 60.0)
    flat = np.full((1, 3, 4), 110.0)
    dark = np.full((1, 3, 4), 10.0)
    flat[0, 1, 2] = 5.0  # flat below dark
    out = normalize(proj, flat, dark)
    assert np.allclose(np.delete(out.reshape(2, -1), 6, axis=1), 0.5)
    assert out[0, 1, 2] == pytest.approx(50.0 / 1e-6, rel=1e-5)  # denominator clipped to 1e-6


def test_wrong_field_shape():
    with pytest.raises(InputError, match="flat fields have shape"):
        normalize(np.ones((2, 3, 4)), np.ones((1, 3, 5)), np.zeros((1, 3, 4)))


def test_minus_log_clips_non_positive():
    out = minus_log(np.array([1.0, np.e**-2, 0.0, -0.5]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 2.0, -np.log(1e-6), -np.log(1e-6)], rtol=1e-6)
    assert np.all(np.isfinite(out))
