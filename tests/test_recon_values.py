"""Reconstructed values are attenuation per voxel, the same for every algorithm (tomopy#209).

A disc of known attenuation inside a weaker one, projected exactly (analytic chords, not our
projector), off-centre axis: every algorithm must give the true values, per voxel length as
tomopy's volumes, and 1/um given the voxel size.
"""

from __future__ import annotations

import numpy as np
import pytest

from tomosnake.errors import ConfigError
from tomosnake.recon import reconstruct
from tomosnake.recon.units import per_micrometre
from tomosnake.synth.analytic import Phantom, ZCylinder, project, voxelize
from tomosnake.synth.presets import shepp_logan

N, C = 128, 65.7
THETA = np.linspace(0, np.pi, 180, endpoint=False)
HOST, INNER = 0.01, 0.03  # per voxel; the inner disc reads HOST + INNER


@pytest.fixture(scope="module")
def discs():
    ph = Phantom((ZCylinder((0.0, 0.0), (45.0, 45.0), 0, 1, HOST),
                  ZCylinder((10.0, -8.0), (12.0, 12.0), 0, 1, INNER)))
    proj = project(ph, THETA, 1, N, C)
    yy, xx = np.indices((N, N))
    x, y = xx - N / 2 + 0.5, N / 2 - yy - 0.5
    regions = {"inner": np.hypot(x + 8, y - 10) < 9,
               "host": (np.hypot(x, y) < 42) & (np.hypot(x + 8, y - 10) > 15),
               "air": (np.hypot(x, y) > 48) & (np.hypot(x, y) < 60)}
    return proj, regions


CASES = [dict(algorithm="gridrec"), dict(algorithm="gridrec", filter_name="ramlak"),
         dict(algorithm="fbp"), dict(algorithm="fbp", filter_name="hann"),
         dict(algorithm="sirt"), dict(algorithm="cgls")]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: "-".join(kw.values()))
def test_every_algorithm_gives_the_true_attenuation(discs, kw):
    """measured: every mean within 0.1 % of the truth, air within 2e-5 of 0."""
    proj, reg = discs
    rec = reconstruct(proj, THETA, C, **kw)[0]
    assert rec[reg["inner"]].mean() == pytest.approx(HOST + INNER, rel=0.005)
    assert rec[reg["host"]].mean() == pytest.approx(HOST, rel=0.005)
    assert abs(rec[reg["air"]].mean()) < 1e-3 * (HOST + INNER)


def test_tomopy_exact_keeps_tomopys_bias(discs):
    """tomopy's own gridrec (reproduced to 1e-3 in test_recon_tomopy) reads small features
    about 8-11 % high and loses the slice mean (negative air): the reason the default differs."""
    proj, reg = discs
    rec = reconstruct(proj, THETA, C, tomopy_exact=True)[0]
    assert rec[reg["inner"]].mean() > 1.05 * (HOST + INNER)
    assert rec[reg["air"]].mean() < -0.1 * HOST


def test_values_in_per_micrometre(discs):
    proj, reg = discs
    rec = reconstruct(proj, THETA, C)[0]
    mu_um = per_micrometre(rec, 0.25)  # 0.04 per 0.25-um voxel = 0.16 per um
    assert mu_um.dtype == np.float32
    assert mu_um[reg["inner"]].mean() == pytest.approx(0.16, rel=0.005)
    assert per_micrometre(0.04, 0.5) == pytest.approx(0.08)
    with pytest.raises(ConfigError, match="voxel_size_um"):
        per_micrometre(rec, None)


def test_per_row_centres_batched():
    """A tilted axis: gridrec applies each row's centre exactly in one batch; fbp shifts rows
    onto one centre (Fourier) and stays as accurate as reconstructing each row alone."""
    ph = shepp_logan(5, N, scale=0.9)
    centers = np.array([60.3, 64.1, 66.7, 63.2, 65.0])
    proj = np.concatenate([project(ph, THETA, 5, N, c, rows=(i, i + 1))
                           for i, c in enumerate(centers)], axis=1)
    mu = voxelize(ph, 0, 1, N, supersample=4)[0][0]
    rmse = lambda a: float(np.sqrt(np.mean((a - mu) ** 2)))  # noqa: E731
    for algorithm in ("gridrec", "fbp"):
        batch = reconstruct(proj, THETA, centers, algorithm=algorithm)
        for z, c in enumerate(centers):
            alone = reconstruct(proj[:, z : z + 1], THETA, c, algorithm=algorithm)[0]
            if algorithm == "gridrec":
                np.testing.assert_allclose(batch[z], alone, atol=1e-5)
            else:  # measured: within 3 % (0.0376 vs 0.0365 at worst)
                assert rmse(batch[z]) < 1.04 * rmse(alone)


@pytest.mark.gpu
@pytest.mark.parametrize("kw", CASES[:5], ids=lambda kw: "-".join(kw.values()))
def test_gpu_gives_the_cpu_values(discs, kw):
    pytest.importorskip("cupy")
    proj, reg = discs
    cpu = reconstruct(proj, THETA, C, device="cpu", **kw)[0]
    gpu = reconstruct(proj, THETA, C, device="cuda", **kw)[0]
    assert np.abs(gpu - cpu).max() < 1e-3 * (HOST + INNER) * 10
    assert gpu[reg["inner"]].mean() == pytest.approx(HOST + INNER, rel=0.005)
