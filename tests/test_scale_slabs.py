"""Jobs at real scale in miniature: each job's memory follows its block or slab, not the scan,
and each job reads its own bytes once (issue 13).

Two scans of the same width and angles but 32 and 256 detector rows go through the workflow's
steps (tomosnake.pipeline) with 16 rows per slab and small ingest blocks; peak memory is
measured with tracemalloc (numpy and zarr buffers are traced), bytes read with
tomosnake.io.iocount.
"""

from __future__ import annotations

import json
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import zarr

from tomosnake import layout, pipeline
from tomosnake.io import iocount
from tomosnake.synth.largescan import write_analytic_scan
from tomosnake.synth.presets import nmc_pillar

COLS, PROJ, SLAB = 128, 90, 16
SETTINGS = {"slab_rows": SLAB, "slabs": None}


def _peak(fn) -> float:
    """Peak traced memory (MiB) of ``fn()``."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[int, dict]:
    """Both scans through flats, ingest, centre, reconstruction and segmentation; with the
    peak memory and bytes read of the first ingest block and the first slab of each step."""
    root = tmp_path_factory.mktemp("scale")
    mp = pytest.MonkeyPatch()
    # blocks of 1 MiB (float32), smaller than both scans as at full size: 64 and 8 frames
    mp.setattr(layout, "INGEST_BYTES", 2**20)
    out = {}
    try:
        for rows in (32, 256):
            d = root / f"r{rows}"
            raw = d / "scan.h5"
            write_analytic_scan(raw, nmc_pillar(rows, COLS, seed=2), PROJ, rows, COLS, seed=rows)
            rec: dict = {"dir": d, "raw": raw}
            pipeline.flats(raw, d / "flats.zarr")
            lay = layout.plan(PROJ, rows, COLS, SLAB)
            parts = [d / "prep.parts" / f"{b}.zarr" for b in range(len(lay.blocks))]
            with iocount.counting() as reads:
                rec["ingest_mib"] = _peak(partial(pipeline.ingest, raw, d / "flats.zarr",
                                                              parts[0], 0))
            rec["ingest_read"] = reads["raw"]
            rec["ingest_frames"] = lay.blocks[0][1] - lay.blocks[0][0]
            for b, p in enumerate(parts[1:], start=1):
                pipeline.ingest(raw, d / "flats.zarr", p, b)
            pipeline.prep_merge(parts, d / "prep.zarr", [raw])
            pipeline.center(d / "prep.zarr", d / "center.json", d / "sweep.tif")
            rparts = [d / "recon.parts" / f"{i}.zarr" for i in range(len(lay.slabs))]
            with iocount.counting() as reads:
                rec["recon_mib"] = _peak(partial(
                    pipeline.recon_slab, d / "prep.zarr", d / "center.json", rparts[0], 0,
                    **SETTINGS))
            rec["recon_read"] = reads["zarr"]
            for i, p in enumerate(rparts[1:], start=1):
                pipeline.recon_slab(d / "prep.zarr", d / "center.json", p, i, **SETTINGS)
            pipeline.recon_merge(rparts, d / "image0", d / "center.json")
            # one slab first: one-time set-up (imports, caches; up to 60 MiB) is not the slab's
            pipeline.segment_slab(d / "image0", d / "labels.parts" / "1.zarr", 1, **SETTINGS)
            with iocount.counting() as reads:
                rec["segment_mib"] = _peak(partial(
                    pipeline.segment_slab, d / "image0", d / "labels.parts" / "0.zarr", 0,
                    **SETTINGS))
            rec["segment_read"] = reads["zarr"]
            out[rows] = rec
    finally:
        mp.undo()
    return out


def _chunk_bytes(store: Path, axis_chunks: range, axis: int) -> int:
    """Bytes of the chunk files of ``store`` whose index on ``axis`` is in ``axis_chunks``."""
    files = [f for f in (store / "c").rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files
               if int(f.relative_to(store / "c").parts[axis]) in axis_chunks)


@pytest.mark.parametrize("step", ["ingest", "recon", "segment"])
def test_job_memory_follows_the_slab_not_the_scan(scans, step):
    small, large = scans[32][f"{step}_mib"], scans[256][f"{step}_mib"]
    assert large <= 1.3 * small, (small, large)


def test_an_ingest_job_reads_only_its_frames(scans):
    for rows, rec in scans.items():
        assert rec["ingest_read"] == rec["ingest_frames"] * rows * COLS * 2  # uint16 frames


def test_a_reconstruction_job_reads_its_rows_once(scans):
    for rec in scans.values():
        prep = rec["dir"] / "prep.zarr" / "proj"
        rows = range(0, SLAB // layout.ROW_CHUNK)
        own = _chunk_bytes(prep, rows, axis=1)
        assert own <= rec["recon_read"] <= 1.1 * own


def test_a_segmentation_job_reads_its_slab_once(scans):
    for rec in scans.values():
        own = _chunk_bytes(rec["dir"] / "image0", range(0, SLAB // layout.ROW_CHUNK), axis=0)
        assert rec["segment_read"] <= 1.1 * own


def test_the_pieces_join_into_the_centred_volume(scans):
    rec = scans[256]
    vol = zarr.open_array(str(rec["dir"] / "image0"), mode="r")
    assert vol.shape == (256, COLS, COLS)
    center = json.loads((rec["dir"] / "center.json").read_text())
    assert abs(center["center"] - COLS / 2) < 0.5  # the generator's axis: the detector middle
    assert np.isfinite(vol[::37]).all()
