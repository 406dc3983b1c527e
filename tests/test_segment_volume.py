"""Segmenting synthetic 3-phase volumes with known labels: accuracy and chunking invariance."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import zarr
from scipy import ndimage

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import open_volume, write_volume
from tomosnake.segment import (
    CANONICAL_PHASES,
    iou_per_phase,
    load_model,
    segment_volume,
    train_from_volume,
)

SHAPE = (24, 96, 96)
LABELLED_Z = (3, 12, 20)


def three_phase_volume(seed: int = 0, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    """Grey volume and labels pore=0, cbd=1 (thin shell around particles), nmc=2, with noise."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=5)
    field /= field.std()
    labels = np.zeros(shape, np.uint8)
    labels[field > 0.0] = 1
    labels[field > 0.5] = 2
    grey = np.choose(labels, [0.1, 0.45, 0.9]).astype(np.float32)
    grey = ndimage.gaussian_filter(grey, 0.5) + rng.normal(0, 0.08, shape).astype(np.float32)
    return grey.astype(np.float32), labels


def sparse(labels: np.ndarray) -> np.ndarray:
    out = np.full_like(labels, 255)
    out[list(LABELLED_Z)] = labels[list(LABELLED_Z)]
    return out


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    grey, labels = three_phase_volume()
    d = tmp_path_factory.mktemp("synth")
    write_volume(d / "recon.zarr", grey, {"voxel_size_um": 0.05}, chunks=(5, 96, 96))
    return d / "recon.zarr", grey, labels


@pytest.fixture(scope="module")
def cnn_25d(volume, tmp_path_factory):
    path, grey, labels = volume
    out = tmp_path_factory.mktemp("m") / "cnn.pt"
    train_from_volume(path, sparse(labels), out, ignore_value=255, phases=CANONICAL_PHASES,
                      context=1, epochs=30, patch=64, class_weight_power=0.5, threads=2)
    return out


@pytest.fixture(scope="module")
def forest(volume, tmp_path_factory):
    _, grey, labels = volume
    out = tmp_path_factory.mktemp("m") / "rf.pt"
    train_from_volume(grey, sparse(labels), out, ignore_value=255, phases=CANONICAL_PHASES,
                      method="rf", threads=2)
    return out


def test_cnn_reaches_095_miou_and_ignores_chunking(volume, cnn_25d, tmp_path):
    path, _, labels = volume
    segment_volume(path, tmp_path / "a.zarr", "cnn", cnn_25d, chunk_z=24,
                   confidence_path=tmp_path / "conf.zarr")
    segment_volume(path, tmp_path / "b.zarr", "cnn", cnn_25d, chunk_z=5, halo=1)
    a = open_volume(tmp_path / "a.zarr")
    iou = iou_per_phase(a[...], labels, CANONICAL_PHASES)
    assert iou["mean"] >= 0.95, iou
    assert min(iou[p] for p in CANONICAL_PHASES) >= 0.9, iou
    np.testing.assert_array_equal(a[...], open_volume(tmp_path / "b.zarr")[...])
    assert a.dtype == np.uint8
    attrs = dict(a.attrs)
    summary = attrs.pop("slice_confidence")
    assert attrs | {"phases": dict(a.attrs["phases"])} == {
        "phases": CANONICAL_PHASES, "voxel_size_um": 0.05, "method": "cnn",
        "source": str(path), "model": str(cnn_25d), "z_range": [0, 24],
        "model_sha256": hashlib.sha256(cnn_25d.read_bytes()).hexdigest(),
    }
    conf = open_volume(tmp_path / "conf.zarr")[...]
    assert conf.shape == labels.shape and conf.min() >= 255 // 3
    # errors are mostly where the model is unsure
    wrong = a[...] != labels
    assert conf[wrong].mean() < conf[~wrong].mean() - 20
    # the per-slice summary is the confidence store's, slice by slice
    assert summary["z"] == list(range(24)) and summary["low_confidence_threshold"] == 0.75
    np.testing.assert_allclose(summary["mean_confidence"], conf.mean(axis=(1, 2)) / 255,
                               atol=1e-5)
    np.testing.assert_allclose(summary["low_confidence_fraction"],
                               (conf < 0.75 * 255).mean(axis=(1, 2)), atol=1e-5)
    # slices whose labels are most often wrong are the least confident ones
    err = wrong.mean(axis=(1, 2))
    assert np.corrcoef(err, summary["mean_confidence"])[0, 1] < -0.5


def test_z_range_equals_slab_of_full_run(volume, cnn_25d, tmp_path):
    path, _, _ = volume
    segment_volume(path, tmp_path / "full.zarr", "cnn", cnn_25d, chunk_z=7)
    segment_volume(path, tmp_path / "part.zarr", "cnn", cnn_25d, chunk_z=3, z_range=(5, 14))
    np.testing.assert_array_equal(
        open_volume(tmp_path / "part.zarr")[...], open_volume(tmp_path / "full.zarr")[5:14]
    )


def test_halo_smaller_than_context_is_refused(volume, cnn_25d, tmp_path):
    with pytest.raises(ConfigError, match="halo 0 is smaller than the model's z-context 1"):
        segment_volume(volume[0], tmp_path / "x.zarr", "cnn", cnn_25d, halo=0)
    assert not (tmp_path / "x.zarr").exists()


def test_16bit_counts_segment_like_floats(volume, cnn_25d, tmp_path):
    """Percentile normalisation: an affine change of grey values changes (almost) nothing."""
    path, grey, labels = volume
    write_volume(tmp_path / "counts.zarr", (grey * 30000 + 13000).astype(np.uint16))
    segment_volume(tmp_path / "counts.zarr", tmp_path / "c.zarr", "cnn", cnn_25d)
    segment_volume(path, tmp_path / "f.zarr", "cnn", cnn_25d)
    c, f = open_volume(tmp_path / "c.zarr")[...], open_volume(tmp_path / "f.zarr")[...]
    assert np.mean(c == f) > 0.999
    assert iou_per_phase(c, labels, CANONICAL_PHASES)["mean"] >= 0.95


def test_random_forest_reaches_095_and_ignores_chunking(volume, forest, tmp_path):
    path, _, labels = volume
    segment_volume(path, tmp_path / "a.zarr", "rf", forest, chunk_z=24)
    segment_volume(path, tmp_path / "b.zarr", "rf", forest, chunk_z=4)
    a = open_volume(tmp_path / "a.zarr")[...]
    np.testing.assert_array_equal(a, open_volume(tmp_path / "b.zarr")[...])
    iou = iou_per_phase(a, labels, CANONICAL_PHASES)
    assert iou["mean"] >= 0.95, iou


def test_otsu_on_synthetic_volume(volume, tmp_path):
    path, grey, labels = volume
    segment_volume(path, tmp_path / "o.zarr", "otsu", chunk_z=5)
    out = zarr.open_array(str(tmp_path / "o.zarr"), mode="r")
    assert out.attrs["method"] == "otsu" and dict(out.attrs["phases"]) == CANONICAL_PHASES
    iou = iou_per_phase(out[...], labels, CANONICAL_PHASES)
    # grey levels are well separated here, but the thin CBD shell suffers from partial volume
    assert iou["pore"] > 0.85 and iou["nmc"] > 0.85 and 0.5 < iou["cbd"] < 0.95, iou


def test_wrong_class_set_is_refused(volume, cnn_25d, tmp_path):
    with pytest.raises(InputError, match="do not match the requested phases"):
        segment_volume(volume[0], tmp_path / "x.zarr", "cnn", cnn_25d,
                       phases={"pore": 0, "nmc": 1})
    with pytest.raises(InputError, match="holds a unet model, not one for 'rf'"):
        segment_volume(volume[0], tmp_path / "x.zarr", "rf", cnn_25d)


def test_model_file_round_trip(cnn_25d, volume):
    model = load_model(cnn_25d)
    assert model.kind == "unet" and model.context == 1
    assert model.phases == CANONICAL_PHASES and list(model.phases) == ["pore", "cbd", "nmc"]
    assert model.normalisation.to_dict() == {"low": 0.5, "high": 99.5}
    t = model.training
    assert t["ignore_value"] == 255 and t["slices"] == len(LABELLED_Z) and t["seed"] == 0
    assert t["epochs"] == 30 and t["patch"] == 64
    # class weights favour the rarest class
    freq = np.array(t["class_frequencies"])
    assert np.argmax(t["class_weights"]) == np.argmin(freq)


def test_sliding_windows_blend_like_one_window(volume, cnn_25d, tmp_path, monkeypatch):
    """Overlapping 32-pixel windows with cosine blending agree with one whole-slice window."""
    from tomosnake.segment import infer

    path, _, labels = volume
    segment_volume(path, tmp_path / "one.zarr", "cnn", cnn_25d, z_range=(0, 6))
    monkeypatch.setattr(infer, "MAX_TILE", 32)
    monkeypatch.setattr(infer, "OVERLAP", 16)
    segment_volume(path, tmp_path / "tiled.zarr", "cnn", cnn_25d, z_range=(0, 6))
    one, tiled = (open_volume(tmp_path / f"{n}.zarr")[...] for n in ("one", "tiled"))
    assert np.mean(one == tiled) > 0.98
    assert iou_per_phase(tiled, labels[:6], CANONICAL_PHASES)["mean"] >= 0.9
