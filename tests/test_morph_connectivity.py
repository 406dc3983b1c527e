"""Connected components: constructed cases, chunked zarr equality, real electrode."""

from __future__ import annotations

import cc3d
import numpy as np
import pytest
import tifffile
import zarr

from tomosnake.io import write_volume
from tomosnake.morph import connectivity, volume_fractions


def constructed() -> np.ndarray:
    lab = np.zeros((20, 12, 12), dtype=np.uint8)
    lab[:, 2:4, 2:4] = 1  # 80 voxels z-spanning rod
    lab[0:5, 8:10, 8:10] = 1  # 20 voxels touching z0 only: dead end along z
    lab[8:10, 6:8, 6:8] = 1  # 8 voxels isolated
    return lab


def test_constructed_components():
    res = connectivity(constructed(), {"solid": 1})["solid"]
    assert res["voxels"] == 108 and res["n_components"] == 3
    assert res["n_isolated"] == 1 and res["isolated_fraction"] == pytest.approx(8 / 108)
    z = res["axes"]["z"]
    assert z["percolates"] and z["percolating_fraction"] == pytest.approx(80 / 108)
    assert z["dead_end_fraction"] == pytest.approx(20 / 108)
    assert not res["axes"]["x"]["percolates"] and res["axes"]["x"]["percolating_fraction"] == 0


def test_component_merged_across_many_chunks(tmp_path):
    lab = np.zeros((30, 10, 10), dtype=np.uint8)
    lab[:, 5, 5] = 1
    lab[10:20, 5, 6] = 1  # U-turn bridging chunks: same component
    lab[29, 0, :] = 1
    store = write_volume(tmp_path / "l.zarr", lab, chunks=(4, 10, 10))
    arr = zarr.open_array(str(store), mode="r")
    res = connectivity(arr, {"a": 1}, axes=("z",), slab_voxels=4 * 10 * 10)["a"]
    assert res["n_components"] == 2
    assert res["axes"]["z"]["percolating_fraction"] == pytest.approx(40 / 50)
    # a U that leaves a slab and comes back in a later one is still one component
    lab2 = np.zeros((30, 10, 10), dtype=np.uint8)
    lab2[2:25, 2, 2] = lab2[2:25, 2, 7] = lab2[24, 2, 2:8] = 1
    lab2[:2, 5, 5] = 1
    for planes in (1, 3, 5, 30):
        res = connectivity(lab2, {"a": 1}, axes=("z",), slab_voxels=planes * 100)["a"]
        assert res["n_components"] == 2 and res["n_isolated"] == 1, planes
        assert res["largest_component_fraction"] == pytest.approx(50 / 52)  # the U
        assert res["axes"]["z"]["dead_end_fraction"] == pytest.approx(2 / 52)


def test_chunked_equals_in_memory_on_real_electrode(tmp_path, shared_data):
    img = tifffile.imread(shared_data / "morphology/electrode_taufactor.tiff")[:64, :80, :72]
    phases = {"pore": 0, "nmc": 85, "cbd": 170}
    store = write_volume(tmp_path / "e.zarr", img, chunks=(7, 80, 72))
    arr = zarr.open_array(str(store), mode="r")
    for planes in (7, 14, 1):
        chunked = connectivity(arr, phases, slab_voxels=planes * 80 * 72)
        assert chunked == connectivity(img, phases), planes
    assert volume_fractions(arr, phases, slab_voxels=7 * 80 * 72) == volume_fractions(img, phases)
    # component count cross-checked with a whole-volume cc3d labelling
    for name, code in phases.items():
        n = cc3d.connected_components(img == code, connectivity=6, return_N=True)[1]
        assert connectivity(img, {name: code})[name]["n_components"] == n
