"""Per-slice confidence, slab summaries, suggested slices and segment_qc.json."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from tomosnake.cli import main
from tomosnake.errors import InputError
from tomosnake.io import open_volume, write_volume
from tomosnake.segment import (
    CANONICAL_PHASES,
    iou_per_phase,
    merge_slice_summaries,
    read_slice_summaries,
    segment_qc,
    segment_volume,
    suggest_slices,
    train_from_labels,
    write_segment_qc,
)
from tomosnake.segment.qc import SliceSummary

SHAPE = (24, 48, 48)
ODD = slice(16, 24)  # slices whose CBD is brighter and noisier than the rest


def _volume(seed=0):
    """Pore / CBD shell / NMC field; in slices 16..23 the CBD grey level and the noise differ."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(SHAPE), sigma=3)
    field /= field.std()
    truth = np.digitize(field, [0.0, 0.5]).astype(np.uint8)
    levels = np.array([0.1, 0.45, 0.9], np.float32)
    grey = levels[truth]
    grey[ODD][truth[ODD] == 1] = 0.62
    grey = ndimage.gaussian_filter(grey, 0.5)
    noise = np.full(SHAPE[0], 0.05, np.float32)
    noise[ODD] = 0.09
    grey += rng.normal(0, 1, SHAPE).astype(np.float32) * noise[:, None, None]
    return grey.astype(np.float32), truth


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("qc")
    grey, truth = _volume()
    write_volume(d / "recon.zarr", grey, chunks=(4, 48, 48))
    sparse = np.full(SHAPE, 255, np.uint8)
    sparse[[3, 10]] = truth[[3, 10]]
    write_volume(d / "labels.zarr", sparse, {"phases": CANONICAL_PHASES, "unlabelled": 255})
    train_from_labels(d / "rf.pt", [(d / "recon.zarr", d / "labels.zarr")], method="rf",
                      threads=1)
    return d, grey, truth


def test_summary_and_merge():
    s = SliceSummary(0.5)
    conf = np.zeros((2, 4, 4), np.uint8)
    conf[0] = 255
    conf[1, :2] = 100  # half the voxels at 0.39, half at 0
    s.add(7, conf)
    d = s.to_dict()
    assert d["z"] == [7, 8] and d["mean_confidence"] == [1.0, round(50 / 255, 5)]
    assert d["low_confidence_fraction"] == [0.0, 1.0]
    other = {"z": [5, 6], "mean_confidence": [0.9, 0.8], "low_confidence_fraction": [0, 0.1],
             "low_confidence_threshold": 0.5}
    merged = merge_slice_summaries([d, other])
    assert merged["z"] == [5, 6, 7, 8] and merged["mean_confidence"][1] == 0.8
    with pytest.raises(InputError, match="overlap"):
        merge_slice_summaries([d, d])
    with pytest.raises(InputError, match="different thresholds"):
        merge_slice_summaries([d, other | {"low_confidence_threshold": 0.7}])
    assert merge_slice_summaries([d, None]) is None


def test_suggestions_keep_apart_and_skip_labelled():
    summary = {"z": list(range(10)),
               "mean_confidence": [0.9, 0.5, 0.51, 0.52, 0.9, 0.9, 0.9, 0.6, 0.9, 0.4]}
    assert suggest_slices(summary, 2, min_gap=1) == [1, 9]
    assert suggest_slices(summary, 3, min_gap=1) == [1, 2, 9]
    assert suggest_slices(summary, 3, min_gap=2) == [1, 3, 9]
    assert suggest_slices(summary, 2, exclude=[9], min_gap=2) == [1, 3]
    assert suggest_slices(None, 3) == []


def test_slab_summaries_equal_the_whole_volume_and_find_the_odd_slices(trained, tmp_path):
    d, grey, truth = trained
    segment_volume(d / "recon.zarr", tmp_path / "all.zarr", "rf", d / "rf.pt",
                   confidence_path=tmp_path / "conf.zarr")
    slabs = []
    for i, (z0, z1) in enumerate([(12, 24), (0, 5), (5, 12)]):
        slabs.append(tmp_path / f"slab{i}.zarr")
        segment_volume(d / "recon.zarr", slabs[-1], "rf", d / "rf.pt", z_range=(z0, z1))
    whole = open_volume(tmp_path / "all.zarr").attrs["slice_confidence"]
    assert read_slice_summaries(slabs) == whole
    conf = open_volume(tmp_path / "conf.zarr")[...]
    np.testing.assert_allclose(whole["mean_confidence"], conf.mean(axis=(1, 2)) / 255, atol=1e-5)
    # the model, trained on slices 3 and 10, is least sure where CBD looks different
    mean = np.array(whole["mean_confidence"])
    assert mean[ODD].max() < mean[:16].min()
    qc = segment_qc("rf", CANONICAL_PHASES, whole, d / "rf.pt", d / "recon.zarr", n_suggest=2)
    assert qc["labelled_slices"] == [3, 10]
    assert len(qc["suggested_slices"]) == 2
    assert all(16 <= z < 24 for z in qc["suggested_slices"]), qc["suggested_slices"]
    assert qc["model_sha256"] == hashlib.sha256((d / "rf.pt").read_bytes()).hexdigest()
    assert qc["per_slice"]["z"] == list(range(24)) and qc["warnings"] == []
    # labelling the suggested slices fixes the odd region
    labels = open_volume(tmp_path / "all.zarr")[...]
    before = iou_per_phase(labels[ODD], truth[ODD], CANONICAL_PHASES)["mean"]
    folder = tmp_path / "painted"
    folder.mkdir()
    for z in (3, 10, *qc["suggested_slices"]):
        tifffile.imwrite(folder / f"{z}_label.tif", truth[z])
    train_from_labels(tmp_path / "rf2.pt", [(d / "recon.zarr", folder)], method="rf", threads=1)
    segment_volume(d / "recon.zarr", tmp_path / "after.zarr", "rf", tmp_path / "rf2.pt")
    after = iou_per_phase(open_volume(tmp_path / "after.zarr")[ODD], truth[ODD],
                          CANONICAL_PHASES)["mean"]
    assert after > before + 0.03, (before, after)


def test_write_segment_qc_from_slabs_and_changed_recon(trained, tmp_path):
    d, grey, _ = trained
    slabs = [tmp_path / "a.zarr", tmp_path / "b.zarr"]
    segment_volume(d / "recon.zarr", slabs[0], "rf", d / "rf.pt", z_range=(0, 10))
    segment_volume(d / "recon.zarr", slabs[1], "rf", d / "rf.pt", z_range=(10, 24))
    write_segment_qc(tmp_path / "qc.json", slabs, d / "recon.zarr", n_suggest=3)
    qc = json.loads((tmp_path / "qc.json").read_text())
    assert qc["schema"] == "tomosnake.segment_qc/1" and qc["method"] == "rf"
    assert qc["phases"] == CANONICAL_PHASES and qc["low_confidence_threshold"] == 0.75
    assert len(qc["per_slice"]["mean_confidence"]) == 24 and len(qc["suggested_slices"]) == 3
    assert not set(qc["suggested_slices"]) & {3, 10}
    # the suggestions go straight to the export for painting
    assert main(["label", "export", str(d / "recon.zarr"), str(tmp_path / "paint"), "--qc",
                 str(tmp_path / "qc.json")]) == 0
    assert sorted(int(p.name.split("_")[0]) for p in (tmp_path / "paint").glob("*_label.tif")
                  ) == qc["suggested_slices"]
    # the reconstruction redone after training: the labelled slices no longer match
    write_volume(tmp_path / "recon.zarr", grey)
    train_from_labels(tmp_path / "m.pt", [(tmp_path / "recon.zarr", d / "labels.zarr")],
                      method="rf", threads=1)
    changed = grey.copy()
    changed[10] *= 1.1
    write_volume(tmp_path / "recon.zarr", changed)
    qc = segment_qc("rf", CANONICAL_PHASES, None, tmp_path / "m.pt", tmp_path / "recon.zarr")
    assert len(qc["warnings"]) == 1 and "slices [10] of" in qc["warnings"][0]
    assert qc["per_slice"] is None and qc["suggested_slices"] == []
    # another scan segmented by the same model: nothing to check, nothing labelled
    qc = segment_qc("rf", CANONICAL_PHASES, None, tmp_path / "m.pt", d / "recon.zarr")
    assert qc["warnings"] == [] and qc["labelled_slices"] == []
    segment_volume(tmp_path / "recon.zarr", tmp_path / "o.zarr", "otsu")
    write_segment_qc(tmp_path / "qc_otsu.json", [tmp_path / "o.zarr"])
    qc = json.loads((tmp_path / "qc_otsu.json").read_text())
    assert qc["method"] == "otsu" and qc["per_slice"] is None and qc["model"] is None
