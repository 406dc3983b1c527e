"""Jobs follow the scan's size, parts join without copying, and the grey-value sketch merges."""

from __future__ import annotations

import os

import numpy as np
import pytest
import zarr

from tomosnake import sketch
from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output, iocount
from tomosnake.io.chunkstore import chunk_bytes_on_disk, create_part, link_parts
from tomosnake.layout import ROW_CHUNK, job_sizes, plan, pyramid_levels


def test_jobs_follow_the_height_and_chunks_never_straddle_jobs():
    small, large = plan(1500, 64, 2048), plan(1500, 512, 2048)
    assert len(small.slabs) == 1 and len(large.slabs) == 8  # 64 rows per job by default
    for lay in (small, large, plan(1501, 130, 2048, slab_rows=30)):
        z = [z for s in lay.slabs for z in s]
        assert z[0] == 0 and z[-1] == lay.n_rows
        assert all(z0 % ROW_CHUNK == 0 for z0, _ in lay.slabs)  # slabs start on a chunk
        a = [a for b in lay.blocks for a in b]
        assert a[0] == 0 and a[-1] == lay.n_proj
        assert all(a0 % lay.angle_chunk == 0 for a0, _ in lay.blocks)
    # a forced count still works; rows per job rounded up to whole chunks
    assert len(plan(100, 130, 64, slabs=4).slabs) == 4
    assert plan(100, 130, 64, slab_rows=30).slab_rows == 32
    with pytest.raises(ConfigError, match="slab_rows"):
        plan(100, 10, 10, slab_rows=0)


def test_job_memory_does_not_follow_the_scan_height():
    """What each job holds is a block or a slab: the estimate is the same at 64 and 2048 rows
    (ingest blocks shrink in angles as frames grow)."""
    a = job_sizes(plan(1500, 64, 2048))
    b = job_sizes(plan(1500, 2048, 2048))
    for rule in ("ingest", "recon_slab", "segment_slab", "morphology"):
        assert b[rule].mem_mb <= 1.3 * a[rule].mem_mb, rule
    assert b["recon_slab"].jobs == 32 and a["recon_slab"].jobs == 1


def test_pyramid_levels_stop_at_small_or_one_voxel():
    assert pyramid_levels((2048, 2048, 2048)) == 6  # 2048 -> 64
    assert pyramid_levels((12, 40, 40)) == 1
    assert pyramid_levels((8, 4096, 4096)) == 4  # z 8 -> 1 limits it
    assert pyramid_levels((37, 45, 51), min_size=1) == 6


def _parts(tmp_path, full, chunks, edges):
    paths = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        p = tmp_path / f"part{a}.zarr"
        with atomic_output(p) as tmp:
            create_part(tmp, full.shape, full.dtype, chunks, a, b, attrs={"k": a})[...] = full[a:b]
        paths.append(p)
    return paths


def test_parts_join_by_links_into_the_whole_array(tmp_path):
    full = np.random.default_rng(0).random((10, 6, 7)).astype(np.float32)
    parts = _parts(tmp_path, full, (2, 3, 7), [0, 4, 8, 10])
    out = link_parts(parts[::-1], tmp_path / "out.zarr", {"extra": 1})
    arr = zarr.open_array(str(out), mode="r")
    np.testing.assert_array_equal(arr[...], full)
    assert arr.attrs["k"] == 0 and arr.attrs["extra"] == 1 and "part" not in arr.attrs
    chunk = out / "c" / "2" / "0" / "0"  # rows 4..5: chunk 0 of the second part
    assert os.stat(chunk).st_nlink == 2  # linked, not copied
    assert chunk_bytes_on_disk(out) == sum(chunk_bytes_on_disk(p) for p in parts)


def test_parts_that_do_not_tile_are_refused(tmp_path):
    full = np.zeros((10, 4, 4), np.float32)
    parts = _parts(tmp_path, full, (2, 4, 4), [0, 4, 8, 10])
    with pytest.raises(InputError, match="starts at 8 .* expected 4"):
        link_parts([parts[0], parts[2]], tmp_path / "gap.zarr")
    with pytest.raises(InputError, match="end at 8"):
        link_parts(parts[:2], tmp_path / "short.zarr")
    with pytest.raises(InputError, match="chunk boundaries"):
        create_part(tmp_path / "bad.zarr", (10, 4, 4), np.float32, (4, 4, 4), 2, 6)
    assert not (tmp_path / "gap.zarr").exists()


def test_reading_rows_reads_only_their_chunks(tmp_path):
    full = np.random.default_rng(1).random((30, 16, 64)).astype(np.float32)
    parts = _parts(tmp_path, full, (10, 4, 64), [0, 10, 20, 30])
    out = link_parts(parts, tmp_path / "proj.zarr")
    arr = zarr.open_array(str(out), mode="r")
    with iocount.counting() as reads:
        rows = arr[:, 4:8]  # one row chunk of every angle chunk
    np.testing.assert_array_equal(rows, full[:, 4:8])
    assert 0 < reads["zarr"] <= 1.1 * chunk_bytes_on_disk(out) / 4


def test_sketch_merges_to_the_quantiles_of_the_whole():
    rng = np.random.default_rng(2)
    slabs = [rng.normal(i, 1 + i, size=(n, 50, 50)) for i, n in enumerate((4, 4, 4, 3))]
    merged = sketch.merge([sketch.sketch(s) for s in slabs])
    whole = np.concatenate([s.ravel() for s in slabs])
    assert merged["count"] == whole.size
    for pct in (0.5, 10, 50, 90, 99.5):
        spread = np.percentile(whole, 99.5) - np.percentile(whole, 0.5)
        assert abs(sketch.percentile(merged, pct) - np.percentile(whole, pct)) < 0.005 * spread
