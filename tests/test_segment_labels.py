"""Hand-labelled slices as training input: the three label sources, bad labels, export round
trip, and a model trained from a painted folder made from the simulator's ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr
from scipy import ndimage

from tomosnake.cli import main
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import open_volume, write_volume
from tomosnake.segment import (
    CANONICAL_PHASES,
    check_label_source,
    export_slices,
    export_sparse,
    iou_per_phase,
    load_model,
    read_label_source,
    segment_volume,
    train_from_labels,
)
from tomosnake.segment.labels import SIDECAR, UNLABELLED
from tomosnake.synth import PhantomSpec, nmc_phantom

SHAPE = (16, 64, 64)
SEGMENTPY = {"nmc": 0, "cbd": 1, "pore": 2}  # SegmentPy's label values
PAINTED = (3, 8, 13)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A reconstruction-like grey volume of the simulator's phantom, and its truth."""
    truth = nmc_phantom(PhantomSpec(shape=SHAPE, radius_mean=6.0, shell_thickness=3.0, seed=3))
    rng = np.random.default_rng(0)
    grey = np.choose(truth, [0.1, 0.45, 0.9]).astype(np.float32)
    grey = ndimage.gaussian_filter(grey, 0.6) + rng.normal(0, 0.05, SHAPE).astype(np.float32)
    d = tmp_path_factory.mktemp("scan")
    write_volume(d / "recon.zarr", grey.astype(np.float32), {"voxel_size_um": 0.1},
                 chunks=(4, 64, 64))
    return d / "recon.zarr", grey, truth


def segmentpy_folder(path, grey, truth, zs=PAINTED, sidecar=True):
    """What a SegmentPy user paints: N.tif grey + N_label.tif with nmc=0, cbd=1, pore=2."""
    path.mkdir()
    to_segmentpy = np.array([2, 1, 0], np.uint8)  # workflow code -> SegmentPy value
    for z in zs:
        tifffile.imwrite(path / f"{z}.tif", grey[z])
        tifffile.imwrite(path / f"{z}_label.tif", to_segmentpy[truth[z]])
    if sidecar:
        (path / SIDECAR).write_text(json.dumps({"phases": SEGMENTPY, "unlabelled": 255}))
    return path


def test_segmentpy_folder_reads_back_z_and_codes(scan, tmp_path):
    _, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "painted", grey, truth)
    ls = read_label_source(folder, SHAPE)
    assert ls.kind == "segmentpy" and ls.z == list(PAINTED)
    # SegmentPy's 0 = NMC comes back as the workflow's nmc = 2, and so on
    np.testing.assert_array_equal(ls.labels, truth[list(PAINTED)])
    np.testing.assert_array_equal(ls.grey, grey[list(PAINTED)])
    assert ls.label_phases == SEGMENTPY and ls.phases == CANONICAL_PHASES
    assert check_label_source(folder, SHAPE) == list(PAINTED)
    # without the sidecar the caller's map applies
    (folder / SIDECAR).unlink()
    ls2 = read_label_source(folder, SHAPE, label_phases=SEGMENTPY)
    np.testing.assert_array_equal(ls2.labels, ls.labels)


def test_label_tiff_folder_and_partial_painting(scan, tmp_path):
    _, _, truth = scan
    folder = tmp_path / "tiffs"
    folder.mkdir()
    lab = truth[5].copy()
    lab[:, 40:] = 255  # right part not painted
    tifffile.imwrite(folder / "slice0005_label.tif", lab)
    tifffile.imwrite(folder / "11_label.tif", np.full((64, 64), 255, np.uint8))  # not yet painted
    ls = read_label_source(folder, SHAPE)
    assert ls.kind == "tiff-folder" and ls.z == [5]
    np.testing.assert_array_equal(ls.labels[0], lab)
    # N.tif label images alone (integer images) are labels too
    other = tmp_path / "plain"
    other.mkdir()
    tifffile.imwrite(other / "7.tif", truth[7])
    assert read_label_source(other, SHAPE).z == [7]


@pytest.mark.parametrize("suffix", [".zarr", ".tif"])
def test_sparse_volume_scribbles(scan, tmp_path, suffix):
    """napari's convention: 0 = unlabelled, 1..3 the phases; stated in the store's metadata."""
    _, _, truth = scan
    sparse = np.zeros(SHAPE, np.uint8)
    sparse[2, 10:20, 10:30] = truth[2, 10:20, 10:30] + 1
    sparse[9] = truth[9] + 1
    write_volume(tmp_path / f"s{suffix}", sparse,
                 {"phases": {"pore": 1, "cbd": 2, "nmc": 3}, "unlabelled": 0})
    ls = read_label_source(tmp_path / f"s{suffix}", SHAPE)
    assert ls.z == [2, 9]
    np.testing.assert_array_equal(ls.labels[1], truth[9])
    assert np.all(ls.labels[0][sparse[2] == 0] == UNLABELLED)
    np.testing.assert_array_equal(ls.labels[0][10:20, 10:30], truth[2, 10:20, 10:30])
    assert check_label_source(tmp_path / f"s{suffix}", SHAPE) == [2, 9]


def test_bad_labels_name_the_file(scan, tmp_path):
    _, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "p", grey, truth)
    lab = tifffile.imread(folder / "8_label.tif")
    tifffile.imwrite(folder / "8_label.tif", np.where(lab == 1, 7, lab).astype(np.uint8))
    for fn in (read_label_source, check_label_source):
        with pytest.raises(InputError, match=r"8_label.tif: label values \[7\] are not in the "
                           r"phase map"):
            fn(folder, SHAPE)
    tifffile.imwrite(folder / "8_label.tif", lab)
    # a slice index outside the volume
    tifffile.imwrite(folder / "40_label.tif", lab)
    with pytest.raises(InputError, match=r"40_label.tif: slice index 40 is outside the "
                       r"reconstruction's slices 0..15"):
        check_label_source(folder, SHAPE)
    (folder / "40_label.tif").unlink()
    # labels of a volume of another size
    with pytest.raises(InputError, match=r"3_label.tif: label image is 64 x 64 \(y, x\) but the "
                       r"reconstruction's slices are 64 x 80"):
        read_label_source(folder, (16, 64, 80))
    tifffile.imwrite(folder / "5_label.tif", lab[:60])
    with pytest.raises(InputError, match="5_label.tif: label image is"):
        check_label_source(folder, SHAPE)
    (folder / "5_label.tif").unlink()
    # a file whose slice index cannot be told
    tifffile.imwrite(folder / "notes.tif", lab)
    with pytest.raises(InputError, match="notes.tif: cannot tell its slice index"):
        read_label_source(folder, SHAPE)
    (folder / "notes.tif").unlink()
    # a sparse volume of another shape, and one with nothing painted
    write_volume(tmp_path / "v.zarr", np.zeros((16, 64, 80), np.uint8), {"unlabelled": 0,
                 "phases": {"pore": 1, "cbd": 2, "nmc": 3}})
    with pytest.raises(InputError, match=r"v.zarr: label volume is 16 x 64 x 80 \(z, y, x\) "
                       r"but the reconstruction is 16 x 64 x 64"):
        check_label_source(tmp_path / "v.zarr", SHAPE)
    with pytest.raises(InputError, match="v.zarr: no labelled voxel"):
        read_label_source(tmp_path / "v.zarr", (16, 64, 80))
    # a phase map that does not name the workflow's phases
    (folder / SIDECAR).unlink()
    with pytest.raises(ConfigError, match=r"must name the workflow's phases"):
        read_label_source(folder, SHAPE, label_phases={"pore": 0, "cbd": 1})


def test_swapped_phase_map_is_refused_at_training(scan, tmp_path):
    """SegmentPy labels read with the workflow's default map: NMC would come out as pore."""
    path, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "p", grey, truth, sidecar=False)
    with pytest.raises(InputError, match=r"p: the voxels labelled nmc \(value 2\) are darker "
                       r"than those labelled pore \(value 0\)"):
        train_from_labels(tmp_path / "m.pt", [(path, folder)], method="rf")
    assert not (tmp_path / "m.pt").exists()


def test_training_from_painted_folder_segments_the_volume(scan, tmp_path):
    """Three painted slices of the simulator's truth train models that segment all 16."""
    path, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "painted", grey, truth)
    for method, kw, bound in (("rf", {}, 0.9), ("cnn", {"epochs": 8, "patch": 64}, 0.8)):
        model = tmp_path / f"{method}.pt"
        m = train_from_labels(model, [(path, folder)], method=method, threads=2, **kw)
        assert m.phases == CANONICAL_PHASES
        src = m.training["label_sources"][0]
        assert src["recon"] == str(path) and src["z"] == list(PAINTED)
        assert set(src["grey_sha256"]) == {str(z) for z in PAINTED}
        assert m.training["warnings"] == []
        segment_volume(path, tmp_path / f"{method}.zarr", method, model)
        iou = iou_per_phase(open_volume(tmp_path / f"{method}.zarr")[...], truth,
                            CANONICAL_PHASES)
        assert iou["mean"] >= bound, (method, iou)


def test_grey_slice_of_another_scan_is_warned(scan, tmp_path):
    path, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "p", grey, truth)
    tifffile.imwrite(folder / "8.tif", grey[2])  # the grey of another slice
    m = train_from_labels(tmp_path / "m.pt", [(path, folder)], method="rf", threads=1)
    assert len(m.training["warnings"]) == 1
    assert "8_label.tif: its grey slice correlates only" in m.training["warnings"][0]


def test_export_round_trip(scan, tmp_path, capsys):
    path, grey, truth = scan
    out = tmp_path / "to_paint"
    assert main(["label", "export", str(path), str(out), "--slices", "2,9"]) == 0
    side = json.loads((out / SIDECAR).read_text())
    assert side["phases"] == CANONICAL_PHASES and side["unlabelled"] == 255
    assert side["volume_shape"] == list(SHAPE) and sorted(side["slices"]) == ["2", "9"]
    exported = tifffile.imread(out / "9.tif")
    assert exported.dtype == np.float32
    assert np.corrcoef(exported.ravel(), grey[9].ravel())[0, 1] > 0.9999
    assert 0 <= np.percentile(exported, 50) <= 1  # normalised by the volume's percentiles
    assert np.all(tifffile.imread(out / "9_label.tif") == 255)
    # nothing painted yet: not a usable source
    with pytest.raises(InputError, match="no labelled pixel"):
        check_label_source(out, SHAPE)
    # paint slice 9 (the truth), leave 2 empty: reads back as slice 9 only
    tifffile.imwrite(out / "9_label.tif", truth[9])
    ls = read_label_source(out, SHAPE)
    assert ls.z == [9]
    np.testing.assert_array_equal(ls.labels[0], truth[9])
    # painted labels are never overwritten; automatic choice skips them
    with pytest.raises(InputError, match="9_label.tif: exists; not overwritten"):
        export_slices(path, out, [9])
    m = train_from_labels(tmp_path / "m.pt", [(path, out)], method="rf", threads=1)
    assert m.training["warnings"] == []
    added = export_slices(path, out, auto=3, model_path=tmp_path / "m.pt")
    assert len(added) == 3 and 9 not in added and 2 not in added
    side = json.loads((out / SIDECAR).read_text())
    assert sorted(map(int, side["slices"])) == sorted({2, 9, *added})
    # pre-filled with the model's prediction: reading it unchanged warns
    pred = tifffile.imread(out / f"{added[0]}_label.tif")
    assert set(np.unique(pred)) <= {0, 1, 2}
    assert np.mean(pred == truth[added[0]]) > 0.8
    ls = read_label_source(out, SHAPE)
    assert ls.z == sorted([9, *added]) and len(ls.warnings) == 3
    assert "unchanged since export" in ls.warnings[0]


def test_export_after_reconstruction_changed_warns(scan, tmp_path):
    path, grey, truth = scan
    out = tmp_path / "p"
    export_slices(path, out, [4])
    tifffile.imwrite(out / "4_label.tif", truth[4])
    write_volume(tmp_path / "redone.zarr", grey * 1.01)
    m = train_from_labels(tmp_path / "m.pt", [(tmp_path / "redone.zarr", out)], method="rf",
                          threads=1)
    assert len(m.training["warnings"]) == 1
    assert "4_label.tif: painted on a different slice 4" in m.training["warnings"][0]


def test_auto_export_avoids_air_and_sparse_store(scan, tmp_path):
    path, grey, _ = scan
    padded = np.concatenate([np.full((10, 64, 64), 0.1, np.float32) + grey[:10] * 0, grey])
    padded[:10] += np.random.default_rng(1).normal(0, 0.05, (10, 64, 64)).astype(np.float32)
    write_volume(tmp_path / "air.zarr", padded)
    chosen = export_slices(tmp_path / "air.zarr", tmp_path / "x", auto=4)
    assert len(chosen) == 4 and min(chosen) >= 10, chosen  # the air slices 0..9 are skipped
    assert main(["label", "export", str(path), str(tmp_path / "s.zarr"), "--sparse"]) == 0
    arr = zarr.open_array(str(tmp_path / "s.zarr"), mode="r+")
    assert arr.shape == SHAPE and arr.dtype == np.uint8 and arr.attrs["unlabelled"] == 0
    arr[6, :5, :5] = 2  # paint a little CBD
    ls = read_label_source(tmp_path / "s.zarr", SHAPE)
    assert ls.z == [6] and np.all(ls.labels[0, :5, :5] == CANONICAL_PHASES["cbd"])
    with pytest.raises(InputError, match="exists; not overwritten"):
        export_sparse(path, tmp_path / "s.zarr")


def test_label_check_command(scan, tmp_path, capsys):
    _, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "p", grey, truth)
    assert main(["label", "check", str(folder)]) == 0
    assert "slices [3, 8, 13]" in capsys.readouterr().out
    (folder / SIDECAR).unlink()
    assert main(["label", "check", str(folder), "--label-phases", "pore=0,cbd=1"]) == 2
    assert "must name the workflow's phases" in capsys.readouterr().err


def test_model_records_simulated_truth_beside_labels(scan, tmp_path):
    """Simulated ground truth stays one more source of labels."""
    path, grey, truth = scan
    root = zarr.open_group(store=str(tmp_path / "sim_truth.zarr"), mode="w", zarr_format=3)
    root.create_array("labels", shape=SHAPE, dtype=np.uint8)[...] = truth
    root.attrs["phases"] = CANONICAL_PHASES
    folder = segmentpy_folder(tmp_path / "p", grey, truth, zs=(8,))
    m = train_from_labels(tmp_path / "m.pt", [(path, folder)],
                          [(path, tmp_path / "sim_truth.zarr")], truth_slices=[2, 14, 99],
                          method="rf", threads=1)
    kinds = [(s["kind"], s["z"]) for s in load_model(tmp_path / "m.pt").training["label_sources"]]
    assert kinds == [("segmentpy", [8]), ("truth", [2, 14])] and m.training["slices"] == 3


@pytest.mark.gpu
def test_cuda_training_and_inference_agree_with_cpu(scan, tmp_path):
    """Trained on the GPU (float16 autocast), the model segments alike on GPU and CPU."""
    path, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "painted", grey, truth)
    m = train_from_labels(tmp_path / "m.pt", [(path, folder)], epochs=8, patch=64,
                          device="cuda")
    assert m.training["device"] == "cuda" and m.training["mixed_precision"]
    segment_volume(path, tmp_path / "gpu.zarr", "cnn", tmp_path / "m.pt", device="cuda")
    segment_volume(path, tmp_path / "cpu.zarr", "cnn", tmp_path / "m.pt", device="cpu")
    gpu, cpu = (open_volume(tmp_path / f"{d}.zarr")[...] for d in ("gpu", "cpu"))
    assert np.mean(gpu == cpu) > 0.99
    assert iou_per_phase(gpu, truth, CANONICAL_PHASES)["mean"] >= 0.8


def test_label_files_are_what_training_reads(scan, tmp_path):
    _, grey, truth = scan
    folder = segmentpy_folder(tmp_path / "p", grey, truth)
    from tomosnake.segment.labels import label_files

    assert label_files(folder) == [str(folder / f"{z}_label.tif") for z in PAINTED] + [
        str(folder / SIDECAR)]
    write_volume(tmp_path / "s.zarr", np.zeros(SHAPE, np.uint8), chunks=(4, 64, 64))
    files = label_files(tmp_path / "s.zarr")
    assert str(tmp_path / "s.zarr" / "zarr.json") in files and len(files) == 1 + 4
