"""Analytic phantoms and the large-scan generator: exact line integrals, geometry, files, truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import zarr
from phantoms import disc_sinogram

from tomosnake.errors import ConfigError
from tomosnake.synth.analytic import (
    Ellipsoid,
    Phantom,
    Rod,
    ZCylinder,
    project,
    sphere,
    spheroid,
    voxelize,
)
from tomosnake.synth.largescan import (
    analytic_from_config,
    drift_path,
    write_analytic_scan,
    write_analytic_truth,
)
from tomosnake.synth.presets import nmc_pillar, shepp_logan

THETA = np.linspace(0, np.pi, 45, endpoint=False)


def _brute_ellipse(theta, n, center, cx, cy, ax, ay, phi_deg, mu, sub=64):
    """Pixel-averaged chords of a rotated ellipse from ray-quadric intersections (sub-rays)."""
    phi = np.deg2rad(phi_deg)
    u = (np.arange(n * sub) + 0.5) / sub - center
    out = np.zeros((theta.size, n * sub))
    for i, t in enumerate(theta):
        # ray points x = u cos - s sin, y = u sin + s cos; in the ellipse frame a quadratic in s
        px, py = u * np.cos(t) - cx, u * np.sin(t) - cy
        dx, dy = -np.sin(t), np.cos(t)
        rot = lambda x, y: (x * np.cos(phi) + y * np.sin(phi), -x * np.sin(phi) + y * np.cos(phi))  # noqa: E731
        qx, qy = rot(px, py)
        ex, ey = rot(dx, dy)
        a = (ex / ax) ** 2 + (ey / ay) ** 2
        b = 2 * (qx * ex / ax**2 + qy * ey / ay**2)
        c = (qx / ax) ** 2 + (qy / ay) ** 2 - 1
        out[i] = mu * np.sqrt(np.clip(b * b - 4 * a * c, 0, None)) / a
    return out.reshape(theta.size, n, sub).mean(-1)


def test_elliptic_sections_match_ray_tracing():
    """Closed-form pixel integrals = many traced sub-rays (rotated ellipse, disc, sphere cut)."""
    n, c = 64, 30.7
    ph = Phantom((ZCylinder((4.0, -6.0), (9.0, 15.0), 0, 2, 0.7, phi_deg=25.0),))
    got = project(ph, THETA, 2, n, c)[:, 1]
    want = _brute_ellipse(THETA, n, c, -6.0, 4.0, 15.0, 9.0, 25.0, 0.7)
    assert np.abs(got - want).max() < 2e-3 * want.max()
    ball = Phantom((sphere((2.0, 3.0, -5.0), 10.0, 0.5),))  # row 1: height 1.5, r^2 = 100 - 0.25
    got = project(ball, THETA, 3, n, c)[:, 1]
    want = disc_sinogram(THETA, n, c, [(-5.0, 3.0, np.sqrt(99.75), 0.5)], sub=64)
    assert np.abs(got - want).max() < 2e-3 * want.max()
    np.testing.assert_allclose(got.sum(axis=1), 0.5 * np.pi * 99.75, rtol=1e-6)  # mass


def test_oblique_spheroid_matches_ray_tracing():
    """Any orientation: the section at a row is an ellipse whose centre moves with height."""
    n, c, h = 64, 31.2, 9.5
    body = spheroid((4.0, -6.0, 3.0), (15.0, 9.0, -10.0), 4.0, 0.3)
    got = project(Phantom((body,)), THETA, 12, n, c)[:, 9]  # row 9: height 9.5
    q, ctr = body.quadric(), np.asarray(body.center)
    sub = 64
    u = (np.arange(n * sub) + 0.5) / sub - c
    want = np.zeros((THETA.size, n * sub))
    for i, t in enumerate(THETA):  # ray p(s) = (h, u sin + s cos, u cos - s sin)
        p0 = np.stack([np.full_like(u, h), u * np.sin(t), u * np.cos(t)], 1) - ctr
        d = np.array([0.0, np.cos(t), -np.sin(t)])
        a, b = d @ q @ d, 2 * p0 @ q @ d
        cc = np.einsum("ki,ij,kj->k", p0, q, p0) - 1
        want[i] = 0.3 * np.sqrt(np.clip(b * b - 4 * a * cc, 0, None)) / a
    want = want.reshape(THETA.size, n, sub).mean(-1)
    assert np.abs(got - want).max() < 3e-3 * want.max()


def test_rods_match_cylinders_and_conserve_mass():
    n = 64
    along_z = project(Phantom((Rod((0, 3, -5), (4, 3, -5), 10.0, 0.5),)), THETA, 4, n, 30.3,
                      sub_x=64)
    cyl = project(Phantom((ZCylinder((3.0, -5.0), (10.0, 10.0), 0, 4, 0.5),)), THETA, 4, n, 30.3)
    assert np.abs(along_z - cyl).max() < 2e-3 * cyl.max()
    oblique = Rod((6, -5, 3), (12, 10, -8), 3.0, 1.0)  # fully inside rows 0..20
    p = project(Phantom((oblique,)), THETA, 20, n, 32.0, sub_x=8)
    length = np.linalg.norm([6, 15, -11])
    np.testing.assert_allclose(p.sum(axis=(1, 2)), np.pi * 9 * length, rtol=0.01)
    assert voxelize(Phantom((oblique,)), 0, 20, n, 4)[0].sum() == pytest.approx(
        np.pi * 9 * length, rel=0.01)


def test_tilt_and_drift_move_the_shadow():
    """Axis at c0 + s (z - z_mid), projection i moved by (dy_i, dx_i): a ball's shadow follows."""
    n, nr = 96, 40
    ball = Phantom((sphere((20.0, 0.0, 12.0), 6.0, 1.0),))
    theta = np.array([0.0, np.pi / 2, np.pi])
    shifts = np.array([[0.0, 0.0], [3.0, -2.5], [-2.0, 1.5]])
    center = lambda z: 48.3 + 0.1 * (z - nr / 2)  # noqa: E731
    p = project(ball, theta, nr, n, center, shifts)
    for i, t in enumerate(theta):
        dy, dx = shifts[i]
        rows = p[i].sum(axis=1)
        z_c = (rows * (np.arange(nr) + 0.5)).sum() / rows.sum()
        assert z_c == pytest.approx(20.0 + dy, abs=0.02)
        col = p[i][int(20 + dy)]
        u_c = (col * (np.arange(n) + 0.5)).sum() / col.sum()
        # shadow centre: axis at the sample height the row shows, plus x cos + y sin, plus dx
        want = center(np.floor(20 + dy) + 0.5 - dy) + 12.0 * np.cos(t) + dx
        assert u_c == pytest.approx(want, abs=0.02)


def test_voxelize_is_the_reconstruction_grid():
    """A disc off the axis lands where reconstruct puts it; partial voxels are averaged."""
    from tomosnake.recon import reconstruct

    n = 64
    ph = Phantom((ZCylinder((8.0, -10.0), (7.0, 7.0), 0, 1, 1.0, label=3),))
    mu, lab = voxelize(ph, 0, 1, n, supersample=8)
    assert mu.sum() == pytest.approx(np.pi * 49, rel=2e-3)
    assert set(np.unique(lab)) == {0, 3} and lab.sum() / 3 == pytest.approx(np.pi * 49, rel=0.05)
    rec = reconstruct(project(ph, np.linspace(0, np.pi, 180, endpoint=False), 1, n, 32.0),
                      np.linspace(0, np.pi, 180, endpoint=False), 32.0)
    assert np.corrcoef(rec.ravel(), mu.ravel())[0, 1] > 0.98


def test_labels_follow_the_last_object_and_mu_adds():
    host = ZCylinder((0.0, 0.0), (20.0, 20.0), 0, 4, 0.1, label=0)
    inner = Ellipsoid((2.0, 0.0, 0.0), (5.0, 5.0, 5.0), 0.2, label=2)
    mu, lab = voxelize(Phantom((host, inner)), 2, 3, 48)
    assert lab[0, 24, 24] == 2 and mu[0, 24, 24] == pytest.approx(0.3)
    assert lab[0, 24, 10] == 0 and mu[0, 24, 10] == pytest.approx(0.1)


def test_nmc_pillar_spheres_do_not_overlap_and_bridges_touch_them():
    ph = nmc_pillar(48, 160, seed=4)
    balls = [o for o in ph.objects if isinstance(o, Ellipsoid) and o.label == 2]
    rods = [o for o in ph.objects if isinstance(o, Ellipsoid) and o.label == 1]
    assert len(balls) > 20 and len(rods) > 5
    c = np.array([b.center for b in balls])
    r = np.array([b.axes[0] for b in balls])
    d = np.linalg.norm(c[:, None] - c[None], axis=-1) - r[:, None] - r[None]
    assert d[~np.eye(len(balls), dtype=bool)].min() >= 0.5
    pillar = ph.objects[ph.sample]
    assert np.all(np.hypot(c[:, 1], c[:, 2]) + r <= pillar.axes[0] + 1e-9)
    for rod in rods[:10]:  # each tip lies on some sphere's surface
        axis = np.asarray(rod.rotation)[:, 0] * rod.axes[0]
        for end in (np.asarray(rod.center) + axis, np.asarray(rod.center) - axis):
            assert np.abs(np.linalg.norm(c - end, axis=1) - r).min() < 1e-6
    _, lab = voxelize(ph, 20, 24, 160)
    inside = voxelize(Phantom((dataclasses.replace(pillar, label=1),)), 20, 24, 160)[1] > 0
    frac = np.bincount(lab[inside], minlength=3) / inside.sum()
    assert 0.25 < frac[2] < 0.45 and 0.01 < frac[1] < 0.1  # NMC and a thin binder phase


def test_shepp_logan_matches_scikit_image():
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    mu, _ = voxelize(shepp_logan(1, 128), 0, 1, 128, supersample=4)
    ref = resize(shepp_logan_phantom(), (128, 128), anti_aliasing=True)
    assert np.corrcoef(mu[0].ravel(), ref.ravel())[0, 1] > 0.97


@pytest.mark.parametrize("fmt", ["dxchange", "tiff"])
def test_written_scan_normalises_to_the_line_integrals(tmp_path, fmt):
    """Counts -> flats before/after interpolated -> -log: the exact line integrals + noise."""
    from tomosnake.io import read_scan

    n, nr, na = 48, 6, 30
    ph = nmc_pillar(nr, n, seed=1)
    path = tmp_path / ("s.h5" if fmt == "dxchange" else "s_tiff")
    scan = write_analytic_scan(path, ph, na, nr, n, fmt=fmt, photons=40000, n_flats=4,
                               flats_after=True, flat_drift=0.06, center=25.3,
                               tilt_px_per_row=0.05, seed=3)
    raw = read_scan(path)
    assert raw.proj.shape == (na, nr, n) and raw.proj.dtype == np.uint16
    assert raw.flat.shape == (8, nr, n) and raw.meta["flat_position"] == "both"
    dark = raw.dark.mean(axis=0)
    before, after = raw.flat[:4].mean(axis=0) - dark, raw.flat[4:].mean(axis=0) - dark
    assert (after.mean() / before.mean()) == pytest.approx(1.06, abs=0.003)
    w = (np.arange(na) / (na - 1))[:, None, None]
    line = -np.log((raw.proj - dark) / ((1 - w) * before + w * after))
    truth = project(ph, scan.theta, nr, n, scan.center_at)
    err = line - truth
    assert abs(err.mean()) < 0.005 and err.std() < 0.03  # photon noise only
    np.testing.assert_allclose(scan.centers, 25.3 + 0.05 * (np.arange(nr) + 0.5 - nr / 2))


def test_drift_recorded_and_undone_by_the_ingest_shift(tmp_path):
    """The generator's stage drift, read back as alignment shifts, restores the still scan."""
    from tomosnake.io import open_scan
    from tomosnake.preprocess.pipeline import shift_frames

    n, nr, na = 64, 24, 12
    ph = nmc_pillar(nr, n, seed=2, radius_mean=6)
    drift = drift_path(na, 2.5, seed=1)
    assert np.abs(drift).max() == pytest.approx(2.5) and np.all(drift[0] == 0)
    write_analytic_scan(tmp_path / "d.h5", ph, na, nr, n, shifts=drift, n_flats=2)
    with open_scan(tmp_path / "d.h5") as reader:
        shifts = reader.shifts()
    np.testing.assert_allclose(shifts, -drift, atol=1e-4)
    theta = np.linspace(0, np.pi, na, endpoint=False)
    moved = project(ph, theta, nr, n, n / 2, drift)
    still = project(ph, theta, nr, n, n / 2)
    back = shift_frames(moved, shifts)
    inner = (slice(None), slice(4, -4), slice(4, -4))  # away from edges shifted in
    rms = lambda a: float(np.sqrt(np.mean(a[inner] ** 2)))  # noqa: E731
    # measured: 0.034 after (cubic spline; linear 0.042, Fourier 0.036), 0.40 before
    assert rms(back - still) < 0.01 * still.max() and rms(back - still) < 0.1 * rms(moved - still)


def test_truth_store_and_config(tmp_path):
    cfg = {"preset": "nmc", "rows": 12, "cols": 64, "angles": 24, "center_offset": 2.5,
           "tilt_px_per_row": 0.02, "truth_crop": 48, "seed": 5}
    scan_path, truth = analytic_from_config(tmp_path / "c.h5", cfg, truth=tmp_path / "t.zarr")
    root = zarr.open_group(str(truth), mode="r")
    assert root["labels"].shape == (12, 48, 48) and root["sample"].shape == (12, 48, 48)
    attrs = dict(root.attrs)
    assert attrs["center"] == pytest.approx(34.5)
    assert attrs["per_row_center"][0] == pytest.approx(34.5 + 0.02 * (0.5 - 6))
    assert sum(attrs["volume_fractions"].values()) == pytest.approx(1.0)
    assert 0 < attrs["volume_fractions"]["nmc"] < 0.6
    with pytest.raises(ConfigError, match="unknown keys"):
        analytic_from_config(tmp_path / "x.h5", {"colums": 64})
    with pytest.raises(ConfigError, match="photons"):
        write_analytic_scan(tmp_path / "y.h5", shepp_logan(2, 32), 8, 2, 32, photons=1e6)


def test_truth_written_by_slabs_equals_voxelize(tmp_path):
    ph = nmc_pillar(10, 40, seed=6)
    scan = write_analytic_scan(tmp_path / "s.h5", ph, 8, 10, 40, n_flats=1, n_darks=1)
    write_analytic_truth(scan, tmp_path / "t.zarr", slab_rows=3)
    root = zarr.open_group(str(tmp_path / "t.zarr"), mode="r")
    mu, lab = voxelize(ph, 0, 10, 40)
    np.testing.assert_array_equal(root["labels"][...], lab)
    np.testing.assert_allclose(root["mu"][...], mu)


def test_simulate_config_picks_the_generator(tmp_path):
    from tomosnake.synth import truth_path, write_from_config

    cfg = {"generator": "analytic", "preset": "shepp", "rows": 4, "cols": 32, "angles": 16,
           "center_offset": -1.5}
    scan, truth = write_from_config(tmp_path / "a.h5", cfg)
    assert truth == truth_path(scan) and truth.is_dir()
    assert zarr.open_group(str(truth), mode="r").attrs["center"] == pytest.approx(14.5)
    with pytest.raises(ConfigError, match="generator"):
        write_from_config(tmp_path / "b.h5", {"generator": "raytrace"})
