"""Per-scan figures and QC numbers, on a synthetic phantom with known answers and on real slices."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import tifffile

from tomosnake.errors import InputError
from tomosnake.io import open_volume, write_volume
from tomosnake.viz import scan_figures
from tomosnake.viz.figures import class_boundaries, nice_length
from tomosnake.viz.qc import fractions_along_z, qc_flags

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}
MEANS = np.array([0.1, 0.5, 1.0], np.float32)
SIGMA = 0.05


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    """Layers of pore / cbd / nmc along x with Gaussian noise (sigma 0.05), 0.08 µm voxels."""
    root = tmp_path_factory.mktemp("phantom")
    rng = np.random.default_rng(0)
    shape = (24, 48, 60)
    labels = np.zeros(shape, np.uint8)
    labels[:, :, 20:40] = 1
    labels[:, :, 40:] = 2
    labels[:12, :, 35:40] = 2  # fractions change along z
    recon = MEANS[labels] + rng.normal(0, SIGMA, shape).astype(np.float32)
    attrs = {
        "voxel_size_um": 0.08,
        "center": 30.5,
        "algorithm": "gridrec",
        "preprocess": {"qc": {"ring_metric_before": 0.9, "ring_metric_after": 0.3}},
    }
    write_volume(root / "recon.zarr", recon, attrs)
    write_volume(root / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": 0.08})
    out = scan_figures(root / "recon.zarr", root / "labels.zarr", root / "figures", "ph")
    return root, labels, out


def test_scan_figures_files(phantom):
    root, _, out = phantom
    assert set(out) == {
        "orthoslices",
        "orthoslices_labels",
        "histogram",
        "fractions_z",
        "qc",
        "surfaces_3d",
        "qc_json",
    }
    for name, rel in out.items():
        path = root / "figures" / rel
        assert path.is_file(), name
        if rel.endswith(".png"):
            image = plt.imread(path)
            assert image.shape[0] > 300 and image[..., :3].std() > 0.05, name


def test_qc_numbers_match_the_phantom(phantom):
    root, _, _ = phantom
    qc = json.loads((root / "figures" / "qc.json").read_text())
    assert qc["center"] == 30.5
    assert (qc["ring_metric_before"], qc["ring_metric_after"]) == (0.9, 0.3)  # found nested
    assert qc["shape_zyx"] == [24, 48, 60]
    # the wavelet noise estimate sees the noise, not the (sparse) phase edges
    assert qc["noise_sigma"] == pytest.approx(SIGMA, rel=0.2)
    for name, mean in zip(PHASES, MEANS, strict=True):
        assert qc["phase_grey"][name]["mean"] == pytest.approx(mean, abs=0.005)
        assert qc["phase_grey"][name]["std"] == pytest.approx(SIGMA, rel=0.05)
    assert qc["cnr"]["pore/cbd"] == pytest.approx(0.4 / SIGMA, rel=0.05)
    assert qc["cnr"]["cbd/nmc"] == pytest.approx(0.5 / SIGMA, rel=0.05)
    assert qc_flags(qc) == []


def test_fractions_along_z(phantom):
    root, labels, _ = phantom
    got = fractions_along_z(open_volume(root / "labels.zarr"), PHASES)
    for name, code in PHASES.items():
        np.testing.assert_allclose(got[name], (labels == code).mean(axis=(1, 2)))
    assert got["nmc"][0] == pytest.approx(25 / 60) and got["nmc"][-1] == pytest.approx(20 / 60)


def test_qc_flags_raise_on_bad_numbers():
    flags = qc_flags(
        {
            "ring_metric_before": 0.2,
            "ring_metric_after": 0.5,
            "center": 90.0,
            "shape_zyx": [10, 100, 100],
            "cnr": {"pore/cbd": 1.2, "cbd/nmc": 5.0},
        },
        {"pore": 0.4, "cbd": 0.001, "nmc": 0.599},
    )
    assert len(flags) == 4
    assert any("ring metric rose" in f for f in flags)
    assert any("centre 90.0" in f for f in flags)
    assert any("pore/cbd" in f for f in flags)
    assert any("cbd almost absent" in f for f in flags)


def test_nice_length():
    assert nice_length(4.0) == 1.0
    assert nice_length(400.0) == 100.0
    assert nice_length(30.0) == 5.0
    assert nice_length(0.9) == pytest.approx(0.2)


def test_class_boundary_of_two_equal_gaussians():
    centres = np.linspace(-1, 2, 301)
    hists = {"a": np.exp(-(centres**2) / 0.02), "b": np.exp(-((centres - 1) ** 2) / 0.02)}
    ((pair, value),) = class_boundaries(hists, centres, {"a": 0.0, "b": 1.0})
    assert pair == "a/b" and value == pytest.approx(0.5, abs=0.01)


def test_mismatched_or_flat_inputs(tmp_path):
    write_volume(tmp_path / "r.zarr", np.zeros((4, 8, 8), np.float32), {})
    write_volume(tmp_path / "l.zarr", np.zeros((4, 8, 9), np.uint8), {})
    write_volume(tmp_path / "flat.zarr", np.zeros((8, 8), np.float32), {})
    with pytest.raises(InputError, match="l.zarr: labels have shape"):
        scan_figures(tmp_path / "r.zarr", tmp_path / "l.zarr", tmp_path / "f", "x")
    with pytest.raises(InputError, match="3-D"):
        scan_figures(tmp_path / "flat.zarr", None, tmp_path / "f", "x")


def test_real_segmentpy_slices(shared_data, tmp_path):
    """Five real NMC slices (499 x 601) with their hand labels, recoded to pore/cbd/nmc."""
    folder = shared_data / "segmentpy_nmc"
    ids = (1, 100, 200, 300, 400)
    grey = np.stack([tifffile.imread(folder / f"{i}.tif") for i in ids]).astype(np.float32)
    # SegmentPy codes 0 = NMC, 1 = CBD, 2 = pore -> workflow codes pore 0, cbd 1, nmc 2
    labels = (2 - np.stack([tifffile.imread(folder / f"{i}_label.tif") for i in ids])).astype(
        np.uint8
    )
    write_volume(tmp_path / "recon.zarr", grey, {"source": str(folder)})
    write_volume(tmp_path / "labels.zarr", labels, {"phases": PHASES})
    out = scan_figures(tmp_path / "recon.zarr", tmp_path / "labels.zarr", tmp_path / "fig", "nmc")
    assert (tmp_path / "fig" / out["orthoslices_labels"]).is_file()
    qc = json.loads((tmp_path / "fig" / "qc.json").read_text())
    means = {k: v["mean"] for k, v in qc["phase_grey"].items()}
    # README: NMC brightest, CBD in between, pore darkest
    assert means["pore"] < means["cbd"] < means["nmc"]
    fractions = fractions_along_z(open_volume(tmp_path / "labels.zarr"), PHASES)
    # README: slice 100 is 67 % NMC, 26 % CBD, 7 % pore
    assert fractions["nmc"][1] == pytest.approx(0.67, abs=0.01)
    assert fractions["cbd"][1] == pytest.approx(0.26, abs=0.01)
    assert fractions["pore"][1] == pytest.approx(0.07, abs=0.01)


def test_reconstruction_only(phantom, tmp_path):
    root, _, _ = phantom
    out = scan_figures(root / "recon.zarr", None, tmp_path / "fig", "ph")
    assert set(out) == {"orthoslices", "histogram", "qc", "qc_json"}
    qc = json.loads((tmp_path / "fig" / "qc.json").read_text())
    assert "phase_grey" not in qc and qc["center"] == 30.5
