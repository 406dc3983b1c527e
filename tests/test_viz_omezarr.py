"""Multiscale OME-Zarr (NGFF 0.5) of reconstruction and labels, checked with ome-zarr tools."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from ome_zarr.io import parse_url
from ome_zarr.reader import Label, Multiscales, Reader
from ome_zarr_models.v05.image import Image
from ome_zarr_models.v05.image_label import ImageLabel

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import write_volume
from tomosnake.viz import omezarr, write_ome_zarr

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}


def _stores(tmp_path, shape=(37, 45, 51), voxel=0.065):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, shape).astype(np.uint8)
    recon = (labels * 0.5 + rng.normal(0, 0.1, shape)).astype(np.float32)
    write_volume(tmp_path / "recon.zarr", recon, {"voxel_size_um": voxel, "center": 25.5})
    write_volume(tmp_path / "labels.zarr", labels, {"phases": PHASES, "voxel_size_um": voxel})
    return recon, labels


def test_pyramid_values_and_metadata(tmp_path, monkeypatch):
    monkeypatch.setattr(omezarr, "PLANE_CHUNK", 16)  # many chunks per plane, as when big
    recon, labels = _stores(tmp_path)
    out = write_ome_zarr(
        tmp_path / "recon.zarr", tmp_path / "labels.zarr", tmp_path / "scan.ome.zarr", levels=3
    )
    root = zarr.open_group(str(out), mode="r")
    ome = root.attrs["ome"]
    assert ome["version"] == "0.5"
    ms = ome["multiscales"][0]
    assert [a["unit"] for a in ms["axes"]] == ["micrometer"] * 3
    assert [a["name"] for a in ms["axes"]] == ["z", "y", "x"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]]
    np.testing.assert_allclose(scales, [[0.065] * 3, [0.13] * 3, [0.26] * 3])
    shapes = [root[str(k)].shape for k in range(3)]
    assert shapes == [(37, 45, 51), (18, 22, 25), (9, 11, 12)]
    assert [root[str(k)].chunks for k in range(3)] == [(4, 16, 16), (4, 16, 16), (4, 11, 12)]
    assert root["0"].metadata.dimension_names == ("z", "y", "x")
    np.testing.assert_array_equal(root["0"][...], recon)
    # level 1: mean of 2x2x2 blocks of level 0 (odd tail dropped)
    blocks = recon[:36, :44, :50].reshape(18, 2, 22, 2, 25, 2).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(root["1"][...], blocks, rtol=1e-6, atol=1e-6)
    level2 = recon[:36, :44, :48].reshape(9, 4, 11, 4, 12, 4).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(root["2"][...], level2, rtol=1e-5, atol=1e-6)
    lab = root["labels/phases"]
    assert [lab[str(k)].shape for k in range(3)] == shapes  # labels line up with the image
    np.testing.assert_array_equal(lab["0"][...], labels)
    np.testing.assert_array_equal(lab["1"][...], labels[:36:2, :44:2, :50:2])
    np.testing.assert_array_equal(lab["2"][...], labels[:36:4, :44:4, :48:4])
    props = lab.attrs["ome"]["image-label"]["properties"]
    assert {p["name"]: p["label-value"] for p in props} == PHASES


def test_validates_against_ngff_and_reads_in_ome_zarr(tmp_path):
    _stores(tmp_path)
    out = write_ome_zarr(tmp_path / "recon.zarr", tmp_path / "labels.zarr", tmp_path / "s.ome.zarr")
    root = zarr.open_group(str(out), mode="r")
    Image.from_zarr(root)  # raise on any NGFF 0.5 schema violation
    ImageLabel.from_zarr(root["labels/phases"])
    nodes = list(Reader(parse_url(str(out)))())
    image = nodes[0]
    assert any(isinstance(s, Multiscales) for s in image.specs)
    assert [d.shape for d in image.data] == [(37, 45, 51), (18, 22, 25), (9, 11, 12)]
    label_nodes = [n for n in nodes if any(isinstance(s, Label) for s in n.specs)]
    assert len(label_nodes) == 1
    assert label_nodes[0].data[0].shape == (37, 45, 51)


def test_levels_capped_for_small_volumes(tmp_path):
    _stores(tmp_path, shape=(5, 40, 40))
    out = write_ome_zarr(tmp_path / "recon.zarr", None, tmp_path / "s.ome.zarr", levels=4)
    root = zarr.open_group(str(out), mode="r")
    assert len(root.attrs["ome"]["multiscales"][0]["datasets"]) == 3  # 5 -> 2 -> 1 slices
    assert root["2"].shape == (1, 10, 10)
    assert "labels" not in root


def test_levels_added_to_an_existing_level_0_match_the_copy(tmp_path):
    """The workflow links level 0 in place and adds the levels per job (write_level, then
    write_metadata); the result equals building the OME-Zarr from the two stores."""
    import shutil

    _stores(tmp_path)
    ref = write_ome_zarr(tmp_path / "recon.zarr", tmp_path / "labels.zarr", tmp_path / "a.ome.zarr")
    root = tmp_path / "b.ome.zarr"
    shutil.copytree(ref / "0", root / "0")
    shutil.copytree(ref / "labels" / "phases" / "0", root / "labels" / "phases" / "0")
    for k in (1, 2):
        omezarr.write_level(root / str(k - 1), root / str(k))
        omezarr.write_level(root / f"labels/phases/{k - 1}", root / f"labels/phases/{k}",
                            labels=True)
    omezarr.write_metadata(root, 3, name="a")
    a, b = zarr.open_group(str(ref), mode="r"), zarr.open_group(str(root), mode="r")
    assert dict(a.attrs) == dict(b.attrs)
    for k in ("0", "1", "2", "labels/phases/2"):
        np.testing.assert_array_equal(a[k][...], b[k][...])


def test_bad_inputs(tmp_path):
    _stores(tmp_path)
    write_volume(tmp_path / "other.zarr", np.zeros((3, 4, 5), np.uint8), {"phases": PHASES})
    with pytest.raises(InputError, match="must match voxel for voxel"):
        write_ome_zarr(tmp_path / "recon.zarr", tmp_path / "other.zarr", tmp_path / "x.ome.zarr")
    with pytest.raises(ConfigError, match="levels"):
        write_ome_zarr(tmp_path / "recon.zarr", None, tmp_path / "x.ome.zarr", levels=0)
    with pytest.raises(InputError, match="no such file"):
        write_ome_zarr(tmp_path / "missing.zarr", None, tmp_path / "x.ome.zarr")
    assert not (tmp_path / "x.ome.zarr").exists()
