"""The ``tomosnake segment`` command line: train, predict (2-D TIFF, stack, zarr), otsu."""

from __future__ import annotations

import numpy as np
import tifffile
import zarr

from tomosnake.cli import main
from tomosnake.segment import load_model


def _segmentpy_folder(path):
    """Two 64x64 slices: bright disc (label 0), grey ring (label 5), dark rest (label 9)."""
    path.mkdir()
    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(0)
    for i, (cy, cx) in enumerate([(30, 34), (36, 28)]):
        r = np.hypot(yy - cy, xx - cx)
        lab = np.where(r < 12, 0, np.where(r < 18, 5, 9)).astype(np.uint8)
        grey = np.choose((r < 12) * 2 + ((r >= 12) & (r < 18)), [0.0, 0.5, 1.0])
        grey = (grey * 40000 + 15000 + rng.normal(0, 800, grey.shape)).astype(np.float32)
        tifffile.imwrite(path / f"{i + 1}.tif", grey)
        tifffile.imwrite(path / f"{i + 1}_label.tif", lab)
    return path


def test_train_predict_otsu(tmp_path, capsys):
    data = _segmentpy_folder(tmp_path / "slices")
    model = tmp_path / "model.pt"
    assert main(["segment", "train", "--data", str(data), "--out", str(model), "--epochs", "20",
                 "--patch", "32", "--phases", "nmc=0,cbd=5,pore=9", "--threads", "2"]) == 0
    m = load_model(model)
    assert m.phases == {"nmc": 0, "cbd": 5, "pore": 9} and m.training["sources"] == [str(data)]
    truth = tifffile.imread(data / "1_label.tif")
    # single 2-D TIFF in -> 2-D TIFF out, in the training labels' values
    assert main(["segment", "predict", "--model", str(model), str(data / "1.tif"),
                 str(tmp_path / "out.tif"), "--tta"]) == 0
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == truth.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 5, 9}
    assert np.mean(out == truth) > 0.9
    # TIFF stack in -> zarr store out, with a confidence store
    stack = np.stack([tifffile.imread(data / f"{i}.tif") for i in (1, 2)])
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    assert main(["segment", "predict", "--model", str(model), str(tmp_path / "stack.tif"),
                 str(tmp_path / "out.zarr"), "--confidence", str(tmp_path / "conf.zarr")]) == 0
    z = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert z.shape == (2, 64, 64) and dict(z.attrs["phases"]) == {"nmc": 0, "cbd": 5, "pore": 9}
    assert np.mean(z[0] == truth) > 0.9
    assert zarr.open_array(str(tmp_path / "conf.zarr"), mode="r").attrs["scale"] == 1 / 255
    # otsu: phases dark to bright
    assert main(["segment", "otsu", str(tmp_path / "stack.tif"), str(tmp_path / "o.tif"),
                 "--phases", "pore=9,cbd=5,nmc=0"]) == 0
    o = tifffile.imread(tmp_path / "o.tif")
    assert np.mean(o[0] == truth) > 0.95


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    grey = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    tifffile.imwrite(tmp_path / "in.tif", grey)
    assert main(["segment", "predict", "--model", str(tmp_path / "bad.pt"),
                 str(tmp_path / "in.tif"), str(tmp_path / "out.tif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tomosnake segment: error:") and "bad.pt" in err and "\n" not in err
    assert not (tmp_path / "out.tif").exists()
