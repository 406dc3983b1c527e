"""Size distributions: local thickness vs analytic and porespy; watershed particles."""

from __future__ import annotations

import numpy as np
import pytest

from tomosnake.morph import local_thickness, particle_sizes, thickness_distribution


def test_slab_thickness():
    m = np.zeros((40, 40, 40), dtype=bool)
    m[:, :, 10:22] = True  # a 12-voxel slab
    d = thickness_distribution(m, voxel_size_um=0.1)
    assert d["d50_um"] == pytest.approx(1.2, rel=0.12)


def test_local_thickness_matches_porespy():
    import porespy

    im = porespy.generators.blobs([48, 48, 48], porosity=0.5, blobiness=1, seed=7)
    ours = local_thickness(im)  # diameters
    ref = porespy.filters.local_thickness(im, method="legacy", sizes=25)  # radii, same bins
    np.testing.assert_allclose(ours, 2 * ref, atol=1e-4)
    assert 3.0 < np.median(ours[im]) < 6.0


def test_watershed_separates_touching_spheres():
    n = 64
    z, y, x = np.mgrid[:n, :n, :n]
    a = (z - 32) ** 2 + (y - 32) ** 2 + (x - 20) ** 2 <= 12**2
    b = (z - 32) ** 2 + (y - 32) ** 2 + (x - 41) ** 2 <= 10**2
    res = particle_sizes(a | b, voxel_size_um=0.05)
    assert res["n_particles"] == 2
    d = sorted(res["diameters_um"])
    assert d[0] == pytest.approx(20 * 0.05, rel=0.08)
    assert d[1] == pytest.approx(24 * 0.05, rel=0.08)
