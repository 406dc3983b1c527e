"""Bounded memory: slab-by-slab results equal whole-volume ones, and the peak memory of a
whole analysis does not grow with the number of z-planes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import zarr
from scipy import ndimage as ndi

from tomosnake.io import write_volume
from tomosnake.morph import analyse, analyse_store

PHASES = {"pore": 0, "cbd": 1, "nmc": 2}


def pillar(nz: int, n: int = 48, radius: float = 17.0, seed: int = 0) -> np.ndarray:
    """A pillar of a 3-phase microstructure along z, air (labelled pore) around it."""
    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.standard_normal((nz, n, n)), 1.2, mode="wrap")
    q = np.quantile(f, [0.35, 0.5])
    lab = np.full(f.shape, 2, np.uint8)
    lab[f < q[1]] = 1
    lab[f < q[0]] = 0
    y, x = np.mgrid[:n, :n] + 0.5 - n / 2
    lab[:, y**2 + x**2 > radius**2] = 0
    return lab


SETTINGS = {
    "tortuosity_cube_vox": 12,
    "tortuosity_cubes": 3,
    "tortuosity_rev_sizes": 2,
    "tortuosity_max_voxels": 1000,
    "axes": ["z", "x"],
    "particle_halo_factor": 6,  # no particle of this structure is longer: none cut
}


def test_slabs_equal_whole_volume(tmp_path):
    lab = pillar(64)
    store = write_volume(tmp_path / "l.zarr", lab, chunks=(8, 48, 48))
    arr = zarr.open_array(str(store), mode="r")
    whole = analyse(lab, PHASES, 0.1, settings=SETTINGS)
    slabs = analyse(arr, PHASES, 0.1, settings=SETTINGS | {"slab_voxels": 8 * 48 * 48})
    assert whole["sample"]["mode"] == "auto" and whole["sample"]["fraction_of_volume"] < 0.5
    for key in ("sample", "fractions", "connectivity", "tortuosity", "tortuosity_rev", "sizes"):
        assert slabs[key] == whole[key], key
    assert whole["sizes"]["particles"]["nmc"]["n_particles"] >= 10
    assert slabs["sizes"]["particles"]["nmc"]["n_truncated"] == 0
    for key in ("area_um2", "interface_area_um2"):
        assert slabs["surface"][key] == pytest.approx(whole["surface"][key], rel=1e-6)


def _peak_bytes(path) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        analyse_store(path, None, SETTINGS | {"slab_voxels": 64 * 24 * 24}, voxel_size_um=0.1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_volume(tmp_path):
    """512 planes vs 64 planes of the same slices: peak (numpy + Python) within 1.3x.

    Every metric runs (sample found, cubes for tortuosity), with slabs and blocks of at
    most 64 planes so that the small volume does not clip them. tracemalloc counts numpy's
    and Python's allocations, not the interpreter and libraries, so the ratio is that of
    the data the analysis holds; benchmarks/bench_morph.py --scale measures RSS.
    """
    attrs = {"phases": PHASES}
    small = write_volume(tmp_path / "s.zarr", pillar(64, 24, 9.0), attrs, chunks=(16, 24, 24))
    large = write_volume(tmp_path / "l.zarr", pillar(512, 24, 9.0), attrs, chunks=(16, 24, 24))
    _peak_bytes(small)  # warm caches and imports
    small_peak, large_peak = _peak_bytes(small), _peak_bytes(large)
    assert large_peak <= 1.3 * small_peak, (large_peak, small_peak)


def _chunk_bytes(store) -> int:
    return sum(f.stat().st_size for f in store.rglob("*") if f.is_file() and f.name != "zarr.json")


@pytest.mark.parametrize(
    ("metrics", "slab_voxels"),
    [
        (["fractions", "surface", "connectivity"], 8 * 48 * 48),  # a large volume's pass
        (["fractions", "surface", "connectivity", "tortuosity", "sizes"], 1 << 24),  # kept
    ],
)
def test_the_labels_are_read_once(tmp_path, metrics, slab_voxels):
    """Bytes of zarr chunks read by a whole analysis (auto sample region fitted, every phase,
    halos) equal the store's chunk bytes: one read, not one per metric and phase; and the
    numbers equal those of each metric run on its own."""
    from tomosnake.io.iocount import counting
    from tomosnake.morph import connectivity, surface_areas, volume_fractions
    from tomosnake.morph.sample import Region

    lab = pillar(96)
    store = write_volume(tmp_path / "l.zarr", lab, {"phases": PHASES}, chunks=(8, 48, 48))
    settings = SETTINGS | {"slab_voxels": slab_voxels, "metrics": metrics}
    with counting() as read:
        rec = analyse_store(store, None, settings, voxel_size_um=0.1)
    assert read["zarr"] == _chunk_bytes(store)
    assert 0.2 < rec["sample"]["fraction_of_volume"] < 0.5
    region = Region(lab, rec["sample"])
    assert rec["fractions"] == volume_fractions(lab, PHASES, region)
    assert rec["connectivity"] == connectivity(lab, PHASES, ("z", "x"), region)
    alone = surface_areas(lab, PHASES, 0.1, region=region)
    for key in ("area_um2", "interface_area_um2"):
        assert rec["surface"][key] == pytest.approx(alone[key], rel=1e-6)
