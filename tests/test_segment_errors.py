"""Bad training data and bad model files are reported as InputError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from tomosnake.errors import InputError
from tomosnake.segment import load_model, segment_volume, train_from_volume, train_model


def _folder(path, labels_fn=lambda lab: lab, n=2, shape=(48, 48)):
    rng = np.random.default_rng(1)
    path.mkdir()
    for i in range(n):
        lab = (rng.random(shape) * 3).astype(np.uint8)
        grey = lab.astype(np.float32) + rng.normal(0, 0.1, shape).astype(np.float32)
        tifffile.imwrite(path / f"{i}.tif", grey)
        tifffile.imwrite(path / f"{i}_label.tif", labels_fn(lab))
    return path


def test_labels_with_unexpected_values(tmp_path):
    d = _folder(tmp_path / "d", labels_fn=lambda lab: np.where(lab == 2, 7, lab).astype(np.uint8))
    with pytest.raises(InputError, match=r"0_label.tif: unexpected label values \[7\]; "
                       r"expected only \[0, 1, 2\]"):
        train_model([d], tmp_path / "m.pt", phases={"a": 0, "b": 1, "c": 2}, epochs=1)
    assert not (tmp_path / "m.pt").exists()


def test_missing_phase_and_float_labels(tmp_path):
    d = _folder(tmp_path / "d", labels_fn=lambda lab: np.minimum(lab, 1).astype(np.uint8))
    with pytest.raises(InputError, match=r"no voxel of phase\(s\) \['c'\]"):
        train_model([d], tmp_path / "m.pt", phases={"a": 0, "b": 1, "c": 2}, epochs=1)
    grey = np.zeros((2, 8, 8), np.float32)
    grey[:, :4] = 1
    with pytest.raises(InputError, match="labels must be integers"):
        train_from_volume(grey, np.full((2, 8, 8), 0.5, np.float32), tmp_path / "m.pt")


def test_label_shape_mismatch_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match=r"labels shape \(2, 8, 9\) does not match volume"):
        train_from_volume(np.ones((2, 8, 8)), np.zeros((2, 8, 9), np.uint8), tmp_path / "m.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no 'N.tif' grey slices"):
        train_model([tmp_path / "empty"], tmp_path / "m.pt")
    with pytest.raises(InputError, match="all equal 255"):
        grey = np.random.default_rng(0).random((2, 8, 8))
        train_from_volume(grey, np.full((2, 8, 8), 255, np.uint8), tmp_path / "m.pt")


def test_corrupt_and_foreign_model_files(tmp_path):
    d = _folder(tmp_path / "d")
    train_model([d], tmp_path / "m.pt", epochs=1, patch=32, threads=1)
    good = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="cut.pt: not a readable tomosnake model file"):
        load_model(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="other.pt: not a tomosnake segmentation model"):
        load_model(tmp_path / "other.pt")
    d = torch.load(tmp_path / "m.pt", weights_only=True)
    d["state_dict"].pop(next(iter(d["state_dict"])))
    torch.save(d, tmp_path / "broken.pt")
    with pytest.raises(InputError, match="broken.pt: damaged or incompatible model file"):
        load_model(tmp_path / "broken.pt")
    with pytest.raises(InputError, match="missing.pt: model file does not exist"):
        segment_volume(tmp_path / "x.tif", tmp_path / "y.tif", "cnn", tmp_path / "missing.pt")


def test_nan_volume_is_refused(tmp_path):
    d = _folder(tmp_path / "d")
    train_model([d], tmp_path / "m.pt", epochs=1, patch=32, threads=1)
    vol = np.ones((3, 40, 40), np.float32)
    vol[1, 5, 5] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", vol, photometric="minisblack")
    with pytest.raises(InputError, match="NaN"):
        segment_volume(tmp_path / "nan.tif", tmp_path / "out.tif", "cnn", tmp_path / "m.pt")
    with pytest.raises(InputError, match="NaN"):
        segment_volume(tmp_path / "nan.tif", tmp_path / "out.tif", "otsu")
    assert not (tmp_path / "out.tif").exists()


def test_model_file_cannot_run_code(tmp_path):
    """A random-forest model file whose pickle calls os.system is refused, not executed."""
    import os
    import pickle

    import torch

    from tomosnake.errors import InputError
    from tomosnake.segment import load_model
    from tomosnake.segment.modelfile import FORMAT, VERSION

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    d = {"format": FORMAT, "version": VERSION, "kind": "rf", "phase_names": ["a", "b"],
         "label_values": [0, 1], "normalisation": {"low": 1.0, "high": 99.0}, "context": 0,
         "arch": {}, "training": {}, "forest": pickle.dumps(Evil())}
    torch.save(d, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="not allowed"):
        load_model(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_slice_with_swapped_labels_is_warned_and_recorded(tmp_path, caplog):
    """Slice 3 of four has classes 1 and 2 swapped: the grey order betrays it."""
    swapped = {3}
    d = tmp_path / "d"
    d.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        lab = (rng.random((32, 32)) * 3).astype(np.uint8)
        grey = lab.astype(np.float32) + rng.normal(0, 0.1, lab.shape).astype(np.float32)
        if i in swapped:
            lab = np.choose(lab, [0, 2, 1]).astype(np.uint8)
        tifffile.imwrite(d / f"{i}.tif", grey)
        tifffile.imwrite(d / f"{i}_label.tif", lab)
    model = train_model([d], tmp_path / "m.pt", method="rf", threads=1)
    warnings = model.training["label_warnings"]
    assert len(warnings) == 1 and "3_label.tif: phase 'class_1' is brighter than 'class_2'" in (
        warnings[0]
    )
    assert any("3_label.tif" in r.message for r in caplog.records)
    means = load_model(tmp_path / "m.pt").training["label_grey_means"]
    assert len(means) == 4 and means[3][1] > means[3][2] and means[0][1] < means[0][2]
