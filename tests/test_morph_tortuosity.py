"""Tortuosity: analytic cases, taufactor on the real electrode, both backends."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile

from tomosnake.errors import ConfigError, InputError
from tomosnake.morph import bruggeman_fit, tortuosity

ELECTRODE = "morphology/electrode_taufactor.tiff"


def channels(shape=(24, 20, 20)) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[:, 2:6, 3:5] = True
    m[:, 10:13, 10:16] = True
    return m


@pytest.mark.parametrize("backend", ["cpu", "torch"])
def test_straight_channels_tau_is_one(backend):
    r = tortuosity(channels(), "z", backend=backend)
    assert r.percolates and r.converged
    assert r.tau == pytest.approx(1.0, abs=1e-9 if backend == "cpu" else 1e-6)
    assert r.d_rel == pytest.approx(r.eps, rel=1e-6)
    assert r.macmullin == pytest.approx(1.0 / r.eps, rel=1e-6)


def test_non_percolating_phase_is_inf_and_flagged():
    m = channels()
    before = m.copy()
    r = tortuosity(m, "x")
    assert math.isinf(r.tau) and math.isinf(r.macmullin)
    assert not r.percolates and r.flag == "non-percolating"
    assert r.d_eff == 0.0 and r.eps == pytest.approx(before.mean())
    np.testing.assert_array_equal(m, before)  # input untouched


def test_isolated_cluster_counts_in_eps_like_taufactor():
    import taufactor

    m = channels()
    m[8:14, 14:18, 1:5] = True  # isolated block: volume, no transport
    r = tortuosity(m, "z")
    eps_channels = channels().mean()
    assert r.eps_percolating == pytest.approx(eps_channels)
    assert r.tau == pytest.approx(m.mean() / eps_channels, rel=1e-9)
    s = taufactor.Solver(m.astype(np.uint8), device="cpu")
    assert float(s.solve(verbose=False)[0]) == pytest.approx(r.tau, rel=2e-3)


def test_lamellae_along_and_across():
    m = np.zeros((30, 16, 16), dtype=bool)
    m[:, :, ::4] = True  # planes of constant x: lamellae normal to x
    m[:, :, 1::4] = True
    for axis in ("z", "y"):
        assert tortuosity(m, axis).tau == pytest.approx(1.0, abs=1e-9)
    across = tortuosity(m, "x")
    assert math.isinf(across.tau) and not across.percolates


def test_series_layers_match_resistor_chain():
    """A pore slab bridged by one narrow straight channel: 1-D resistances in series."""
    m = np.zeros((20, 9, 9), dtype=bool)
    m[:, 4, 4] = True  # one channel through everything: exact 1-D answer
    r = tortuosity(m, "z")
    assert r.tau == pytest.approx(1.0, abs=1e-9)
    m2 = m.copy()
    m2[:, 4, 5] = True  # a parallel channel: still straight
    assert tortuosity(m2, "z").tau == pytest.approx(1.0, abs=1e-9)


@pytest.fixture(scope="module")
def electrode_crop(shared_data) -> np.ndarray:
    img = tifffile.imread(shared_data / ELECTRODE)
    assert img.shape == (256, 256, 256)
    return img[:96, :96, :96]


@pytest.mark.parametrize(("axis", "size"), [("z", 96), ("x", 64)])
def test_matches_taufactor_on_real_electrode(electrode_crop, axis, size):
    import taufactor

    pore = electrode_crop[:size, :size, :size] == 0
    ours = tortuosity(pore, axis)
    img = np.moveaxis(pore, "zyx".index(axis), 0).astype(np.uint8)
    s = taufactor.Solver(np.ascontiguousarray(img), device="cpu")
    ref = float(s.solve(verbose=False)[0])
    assert 1.5 < ref < 3.5
    assert ours.tau == pytest.approx(ref, rel=0.01)
    assert ours.eps == pytest.approx(float(s.VF[0]), rel=1e-6)


@pytest.mark.parametrize("axis", ["z", "x"])
def test_matches_taufactor_run_to_a_tight_tolerance(electrode_crop, axis):
    """Against taufactor converged to conv_crit 1e-4, the float32 multigrid solver agrees
    to 0.01 % (issue 13 asks for 0.1 %)."""
    import taufactor

    pore = electrode_crop[:64, :64, :64] == 0
    ours = tortuosity(pore, axis)
    img = np.ascontiguousarray(np.moveaxis(pore, "zyx".index(axis), 0)).astype(np.uint8)
    ref = float(taufactor.Solver(img, device="cpu").solve(verbose=False, conv_crit=1e-4)[0])
    assert ours.tau == pytest.approx(ref, rel=1e-4)


def _reference_system(perc: np.ndarray):
    """Graph Laplacian of the unit-conductance voxel graph with the Dirichlet terms, by loops."""
    import scipy.sparse as sp

    idx = -np.ones(perc.shape, int)
    idx[perc] = np.arange(perc.sum())
    rows, cols = [], []
    for axis in range(3):
        a = np.moveaxis(idx, axis, 0)
        lo, hi = a[:-1].ravel(), a[1:].ravel()
        both = (lo >= 0) & (hi >= 0)
        rows += [lo[both], hi[both]]
        cols += [hi[both], lo[both]]
    n = int(perc.sum())
    r, c = np.concatenate(rows), np.concatenate(cols)
    adj = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    dirichlet = np.zeros(perc.shape)
    dirichlet[0] += 2.0
    dirichlet[-1] += 2.0
    b = np.zeros(perc.shape)
    b[-1] = 2.0
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel() + dirichlet[perc]) - adj
    return lap.tocsr(), b[perc]


def test_assembled_system_and_its_galerkin_coarse_level():
    """The fine matrix is the voxel graph Laplacian; the coarse level assembled from the
    grid equals T^T A T for the 2x2x2 block aggregation T (odd sizes included)."""
    import scipy.sparse as sp

    from tomosnake.morph.solver import GridLevel, assemble, coarsen, energy
    from tomosnake.morph.tortuosity import percolating_mask

    rng = np.random.default_rng(3)
    perc = percolating_mask(rng.random((11, 9, 7)) < 0.6, 0)
    level = GridLevel(perc)
    coarse = coarsen(level)
    fine = assemble(level, np.float64, coarse)
    ref, b = _reference_system(perc)
    assert abs(fine.a - ref).max() == 0 and np.array_equal(fine.b, b)
    n, nc = fine.a.shape[0], int(coarse.occ.sum())
    t = sp.csr_matrix((np.ones(n), (np.arange(n), fine.agg)), shape=(n, nc))
    galerkin = (t.T @ fine.a @ t).toarray()
    np.testing.assert_array_equal(assemble(coarse, np.float64).a.toarray(), galerkin)
    x = rng.random(n)
    quadratic = x @ (ref @ x) - 2 * b @ x + fine.c0
    assert energy(perc, x) == pytest.approx(quadratic, rel=1e-12)


def test_torch_backend_agrees_with_cpu(electrode_crop):
    crop = electrode_crop[:48, :48, :48] == 0
    a = tortuosity(crop, "y")
    b = tortuosity(crop, "y", backend="torch", device="cpu")
    assert b.tau == pytest.approx(a.tau, rel=2e-4)


def test_bruggeman_fit_recovers_exponent():
    eps = np.array([0.2, 0.3, 0.45, 0.6])
    fit = bruggeman_fit([(e, e**-0.5) for e in eps] + [(0.1, math.inf)])
    assert fit["alpha"] == pytest.approx(1.5, abs=1e-12) and fit["n"] == 4
    fit2 = bruggeman_fit([(e, e ** (1 - 2.1) * (1 + 0.01 * i)) for i, e in enumerate(eps)])
    assert fit2["alpha"] == pytest.approx(2.1, abs=0.05) and fit2["rms_log_residual"] > 0


def test_bad_inputs():
    with pytest.raises(ConfigError, match="axis"):
        tortuosity(channels(), "w")
    with pytest.raises(InputError, match="boolean"):
        tortuosity(channels().astype(np.uint8), "z")
    with pytest.raises(InputError, match="pair"):
        bruggeman_fit([(0.3, math.inf)])


@pytest.mark.gpu
def test_cuda_backend_agrees_with_cpu(electrode_crop):
    crop = electrode_crop == 0
    a = tortuosity(crop, "z")
    b = tortuosity(crop, "z", backend="torch", device="cuda")
    assert b.backend == "torch:cuda" and b.tau == pytest.approx(a.tau, rel=2e-4)
