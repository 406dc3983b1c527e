"""Centre sweeps: every page labelled with the centre it was reconstructed at (tomocupy#76)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from tomosnake.cli import main
from tomosnake.errors import ConfigError
from tomosnake.recon import reconstruct
from tomosnake.recon.sweep import center_sweep, read_sweep_tiff, sweep_centers, write_sweep_tiff
from tomosnake.synth.analytic import project
from tomosnake.synth.largescan import write_analytic_scan
from tomosnake.synth.presets import nmc_pillar

THETA = np.linspace(0, np.pi, 180, endpoint=False)
C_TRUE = 51.3


@pytest.fixture(scope="module")
def sino():
    ph = nmc_pillar(8, 96, seed=5, radius_mean=5)
    return project(ph, THETA, 8, 96, C_TRUE, rows=(3, 6))  # three rows (angle, 3, x)


def test_pages_are_the_reconstructions_at_their_labels(sino, tmp_path):
    centers = sweep_centers(49.0, 53.5, 0.5)
    assert centers.tolist() == [49.0, 49.5, 50.0, 50.5, 51.0, 51.5, 52.0, 52.5, 53.0, 53.5]
    images, metric = center_sweep(sino, THETA, centers)
    assert images.shape == (10, 96, 96) and len(metric) == 10
    path = write_sweep_tiff(tmp_path / "sweep.tif", images, centers)
    back, labels = read_sweep_tiff(path)
    assert labels == centers.tolist()
    mean_sino = sino.mean(axis=1)[:, None, :]
    for i in (0, 4, 9):  # page i is exactly the slice at the centre on its label
        np.testing.assert_allclose(back[i], reconstruct(mean_sino, THETA, labels[i])[0],
                                   atol=1e-5)
    with tifffile.TiffFile(path) as tf:  # a plain TIFF reader sees the label too
        assert json.loads(tf.pages[3].description) == {"center": 50.5}
    assert centers[int(np.argmax(metric))] == pytest.approx(C_TRUE, abs=0.5)


def test_empty_sweep_and_bad_ranges(tmp_path):
    path = write_sweep_tiff(tmp_path / "none.tif", np.zeros((0, 1, 1), np.float32), [])
    images, labels = read_sweep_tiff(path)
    assert images.shape == (1, 1, 1) and labels == [None]
    with pytest.raises(ConfigError, match="step"):
        sweep_centers(50, 40, 1)
    with pytest.raises(ConfigError, match="at most"):
        sweep_centers(0, 1000, 0.1)
    with pytest.raises(Exception, match="centres"):
        write_sweep_tiff(tmp_path / "bad.tif", np.zeros((2, 4, 4)), [1.0])


def test_cli_center_sweep(tmp_path, capsys):
    ph = nmc_pillar(6, 96, seed=5, radius_mean=5)
    write_analytic_scan(tmp_path / "s.h5", ph, 120, 6, 96, center=C_TRUE, n_flats=4, seed=1)
    out = tmp_path / "sweep.tif"
    assert main(["recon", str(tmp_path / "s.h5"), str(out), "--center-sweep", "50:52.5:0.5",
                 "--sweep-row", "3", "--rings", "none"]) == 0
    images, labels = read_sweep_tiff(out)
    assert labels == [50.0, 50.5, 51.0, 51.5, 52.0, 52.5] and images.shape == (6, 96, 96)
    text = capsys.readouterr().out
    assert "sharpest" in text and "51.500" in text.split("<- sharpest")[0].splitlines()[-1]
    with pytest.raises(SystemExit) as exc:  # argparse: usage error, exit status 2
        main(["recon", str(tmp_path / "s.h5"), str(out), "--center-sweep", "50:52"])
    assert exc.value.code == 2 and "START:STOP:STEP" in capsys.readouterr().err
