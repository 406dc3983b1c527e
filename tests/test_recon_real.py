"""Reconstruction of the real scans in ../shared/data (see its README.md)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tomosnake.io import RawScan, open_volume, volume_attrs
from tomosnake.recon import reconstruct


@pytest.fixture(scope="module")
def neutron(shared_data):
    from tomosnake.preprocess.prepare import prepare

    sino = tifffile.imread(shared_data / "real_scans" / "neutron_sinogram_360_stripes.tif")
    theta = np.linspace(0, 2 * np.pi, sino.shape[0], endpoint=False)
    raw = RawScan(sino.astype(np.float32)[:, None, :], theta, meta={"source": "neutron"})
    return prepare(raw, rings="sort", no_flats="row_bright")


def _disk(n: int) -> np.ndarray:
    yy, xx = np.indices((n, n)) - n / 2
    return np.hypot(yy, xx) < n / 2 - 10


def test_neutron_sinogram_sharpest_at_found_centre(neutron):
    """A wrong centre doubles every edge of a 360-degree scan: lower contrast variance."""
    c = float(neutron.meta["center"])
    m = _disk(neutron.proj.shape[2])
    var = {dc: reconstruct(neutron.proj, neutron.theta, c + dc)[0][m].var() for dc in (-3, 0, 3)}
    assert var[0] > 1.03 * max(var[-3], var[3])


def test_neutron_gridrec_agrees_with_fbp(neutron):
    # every third angle, columns binned by 2 (centre / 2): keeps the Siddon matrix small
    proj = neutron.proj[::3, :, :502].reshape(-1, 1, 251, 2).mean(axis=3)
    theta, c = neutron.theta[::3], float(neutron.meta["center"]) / 2
    m = _disk(proj.shape[2])
    g = reconstruct(proj, theta, c, algorithm="gridrec")[0][m]
    f = reconstruct(proj, theta, c, algorithm="fbp")[0][m]
    assert np.corrcoef(g, f)[0, 1] > 0.99
    assert np.abs(g - f).max() < 0.5 * np.abs(g).max()


def test_cli_reconstructs_diad_nexus(shared_data, tmp_path):
    from tomosnake.cli import main

    nxs = shared_data / "real_scans" / "diad_k11-18014" / "k11-18014.nxs"
    out = tmp_path / "recon.zarr"
    assert main(["recon", str(nxs), str(out), "--rings", "none", "--algorithm", "fbp"]) == 0
    vol = open_volume(out)
    attrs = volume_attrs(vol)
    assert vol.shape == (22, 26, 26) and vol.dtype == np.float32
    assert np.all(np.isfinite(vol[...])) and float(np.abs(vol[...]).max()) > 0
    assert attrs["algorithm"] == "fbp" and 0 < attrs["center"] < 26
    assert attrs["theta_range_deg"] == pytest.approx(180, abs=1)
