"""How a scan is cut into jobs and chunks, and what each job needs: one place for both.

Everything here follows from the scan's header facts (:class:`~tomosnake.io.scaninfo.ScanInfo`)
and the ``layout`` settings, so Snakemake knows the jobs and their resources before any
job runs.

Data flow (projections are (angle, z, x), volumes (z, y, x)):

- ``ingest`` jobs read whole frames of a block of angles from the source (sources store
  frames), normalise them (flat/dark, zingers, Paganin, -log: the projection-wise steps)
  and write ``prep.zarr`` with chunks of ``angle_chunk`` angles x ``ROW_CHUNK`` rows x all
  columns. Blocks are whole multiples of ``angle_chunk``, so jobs never share a chunk.
- ``recon`` jobs each own ``slab_rows`` rows (a multiple of ``ROW_CHUNK``): they read only
  those rows of every angle (the sinogram-wise steps: stripes, half-acquisition stitching,
  reconstruction) and write their slices with chunks of ``ROW_CHUNK`` slices.
- ``segment`` jobs own the same slabs of slices (plus a halo of context slices).
- Slab and block stores are joined by hard-linking their chunk files into the final store
  (:func:`tomosnake.io.chunkstore.link_parts`): no byte is copied.

Memory and run time per job are linear models of the bytes a job holds and processes; their
constants were measured with ``benchmarks/bench_scale.py`` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tomosnake.errors import ConfigError
from tomosnake.io.scaninfo import ScanInfo

#: rows per chunk of prep.zarr and of reconstructed/label volumes (z)
ROW_CHUNK = 4
#: target bytes of one prep.zarr chunk
CHUNK_BYTES = 4 * 2**20
#: target bytes of float32 frames one ingest job holds
INGEST_BYTES = 512 * 2**20
#: volume chunks in y and x (at most)
PLANE_CHUNK = 512
#: the coarsest pyramid level is at most this many voxels along its longest axis
PYRAMID_MIN = 64


def _ceil_to(n: int, m: int) -> int:
    return -(-n // m) * m


@dataclass(frozen=True)
class Layout:
    """Jobs and chunks of one scan (see module docstring)."""

    n_proj: int
    n_rows: int
    n_cols: int
    slab_rows: int
    angle_chunk: int
    ingest_angles: int

    @property
    def slabs(self) -> list[tuple[int, int]]:
        """Row ranges [z0, z1) of the recon/segment jobs."""
        return slab_ranges(self.n_rows, self.slab_rows)

    @property
    def blocks(self) -> list[tuple[int, int]]:
        """Angle ranges [a0, a1) of the ingest jobs."""
        return [(a, min(a + self.ingest_angles, self.n_proj))
                for a in range(0, self.n_proj, self.ingest_angles)]

    @property
    def prep_chunks(self) -> tuple[int, int, int]:
        """Chunk shape of prep.zarr (angle, z, x)."""
        return (self.angle_chunk, min(ROW_CHUNK, self.n_rows), self.n_cols)

    def volume_chunks(self, ny: int, nx: int) -> tuple[int, int, int]:
        """Chunk shape of a (z, ny, nx) volume written slab by slab."""
        return (min(ROW_CHUNK, self.n_rows), min(PLANE_CHUNK, ny), min(PLANE_CHUNK, nx))


def pyramid_levels(shape: tuple[int, ...], min_size: int = PYRAMID_MIN) -> int:
    """Levels of a 2x multiscale pyramid: until the longest axis is <= ``min_size`` voxels,
    and while every axis keeps at least one voxel (level k has shape ``shape >> k``)."""
    want = 1 + max(0, math.ceil(math.log2(max(shape) / min_size)))
    return max(1, min(want, 1 + int(math.log2(max(1, min(shape))))))


def rows_per_slab(n_rows: int, slab_rows: int = 64, slabs: int | None = None) -> int:
    """Rows per recon/segment job: ``slab_rows`` (or ``n_rows / slabs`` when a count is
    forced) rounded up to a multiple of :data:`ROW_CHUNK`."""
    if slabs is not None:
        if slabs < 1:
            raise ConfigError(f"layout.slabs {slabs}: must be >= 1")
        slab_rows = -(-n_rows // slabs)
    if slab_rows < 1:
        raise ConfigError(f"layout.slab_rows {slab_rows}: must be >= 1")
    return min(_ceil_to(slab_rows, ROW_CHUNK), _ceil_to(n_rows, ROW_CHUNK))


def slab_ranges(n_rows: int, slab_rows: int) -> list[tuple[int, int]]:
    """Row ranges [z0, z1) of ``slab_rows`` rows (the last one shorter) covering ``n_rows``."""
    return [(z, min(z + slab_rows, n_rows)) for z in range(0, n_rows, slab_rows)]


def plan(n_proj: int, n_rows: int, n_cols: int, slab_rows: int = 64,
         slabs: int | None = None) -> Layout:
    """Layout of a scan of ``n_proj`` x ``n_rows`` x ``n_cols`` (angle, z, x).

    ``slab_rows``: detector rows per recon/segment job, rounded up to a multiple of
    ``ROW_CHUNK``; ``slabs``: force this many jobs instead (rows split as evenly as chunks
    allow).
    """
    if min(n_proj, n_rows, n_cols) < 1:
        raise ConfigError(f"scan shape {(n_proj, n_rows, n_cols)}: every axis must be >= 1")
    slab_rows = rows_per_slab(n_rows, slab_rows, slabs)
    frame = n_rows * n_cols * 4
    angle_chunk = max(1, min(n_proj, CHUNK_BYTES // (ROW_CHUNK * n_cols * 4),
                             INGEST_BYTES // frame))
    ingest_angles = max(angle_chunk, INGEST_BYTES // frame // angle_chunk * angle_chunk)
    return Layout(n_proj, n_rows, n_cols, slab_rows, angle_chunk, min(ingest_angles, n_proj))


def plan_scan(info: ScanInfo, layout: Mapping[str, Any]) -> Layout:
    """:func:`plan` for a scan's header facts and its ``layout`` settings."""
    return plan(info.n_proj, info.n_rows, info.n_cols, int(layout.get("slab_rows", 64)),
                layout.get("slabs"))


@dataclass(frozen=True)
class JobSize:
    """What the jobs of one rule need: count, memory (MB) and run time (minutes) each."""

    jobs: int
    mem_mb: int
    runtime_min: int
    threads: int

    @property
    def core_hours(self) -> float:
        """CPU core-hours of all jobs of the rule at their run-time estimate."""
        return self.jobs * self.threads * self.runtime_min / 60

    def attempt(self, n: int) -> tuple[int, int]:
        """(mem_mb, runtime_min) to ask for on attempt ``n`` (1, 2, ...): each retry of a job
        killed for memory or time asks for half as much again."""
        f = 1 + 0.5 * (n - 1)
        return int(self.mem_mb * f), int(self.runtime_min * f)


#: MB of process start-up (Python, numpy, zarr, the library) every job pays
BASE_MB = 400


def job_sizes(lay: Layout, threads: Mapping[str, int] | None = None,
              out_width: int | None = None,
              morph: Mapping[str, Any] | None = None) -> dict[str, JobSize]:
    """Per-rule job counts and resources of a scan laid out as ``lay``.

    ``out_width``: reconstructed slice width (crop, or the detector width); ``threads``: per
    rule (default 2); ``morph``: the scan's ``morph`` settings (default: the schema's).
    Memory models count the arrays each job holds at its peak (float32 = 4 bytes) times a
    working-copy factor, plus :data:`BASE_MB`.
    """
    threads = dict(threads or {})
    n = out_width or lay.n_cols
    mb = 2**20

    def size(rule: str, jobs: int, held_bytes: float, seconds: float) -> JobSize:
        t = int(threads.get(rule, 2))
        return JobSize(jobs, int(BASE_MB + held_bytes / mb), max(5, math.ceil(seconds / 60)), t)

    frame = lay.n_rows * lay.n_cols * 4
    slab_sino = lay.n_proj * lay.slab_rows * lay.n_cols * 4
    slab_vol = lay.slab_rows * n * n * 4
    # gridrec holds a padded complex Fourier grid per slice of a task (about 1 GiB at 2048
    # columns) and the gridding matrix (about 1.1 GB at 1500 angles x 2048 columns)
    grid = 2 * (2 * n) ** 2 * 8 * 4 + lay.n_proj * 2 * n * 36 * 12
    n_blocks, n_slabs = len(lay.blocks), len(lay.slabs)
    return {
        "center": size("center", 1, 2 * grid + 21 * n * n * 4 + 15 * lay.n_proj * n * 4,
                       60 + 40 * lay.n_proj * n / 2e6),
        "ingest": size("ingest", n_blocks, 3 * lay.ingest_angles * frame, 60 + lay.ingest_angles
                       * frame / 20e6),
        "recon_slab": size("recon_slab", n_slabs, 2 * slab_sino + 3 * slab_vol + grid,
                           60 + lay.slab_rows * lay.n_proj * n / 2e6),
        "segment_slab": size("segment_slab", n_slabs, 4 * slab_vol, 60 + lay.slab_rows * n * n
                             / 1e6),
        "morphology": size("morphology", 1, *_morph_model(lay.n_rows, n, morph)),
    }


#: wall seconds per voxel of each morphology metric with 2 threads on the benchmark machine
#: (pillar labels of 2048^2 slices, benchmarks/bench_morph_job.py, twice the measured for
#: headroom); tortuosity: per cube voxel, phase and axis
MORPH_SECONDS = {"fractions": 3e-8, "surface": 1.5e-6, "connectivity": 2.5e-7,
                 "sizes": 8e-6, "tortuosity": 2e-6}


def _morph_model(n_rows: int, n: int, morph: Mapping[str, Any] | None) -> tuple[float, float]:
    """(bytes held at the peak, seconds) of a morphology job on ``n_rows`` slices of n x n.

    The metrics run one after another, so the peak is the largest of: the one pass over
    the labels (:mod:`tomosnake.morph.slabpass`: a fit block and a slab of uint8 planes
    plus the metrics' float32 and label temporaries of a slab with halos), the tortuosity
    solve (a cube of ``tortuosity_cube_vox``, or a whole sample box of at most
    ``tortuosity_max_voxels``: 48 bytes per voxel, benchmarks/RESULTS.md) and the size
    blocks (``slab_voxels`` with halos, about 80 bytes per voxel).
    """
    from tomosnake.config import defaults

    cfg = {**defaults("morph"), **(morph or {})}
    metrics = set(cfg["metrics"])
    plane, voxels = n * n, n_rows * n * n
    slab = int(cfg["slab_voxels"])
    step = max(1, slab // plane)
    held = (int(cfg["sample"]["block_planes"]) + step + 4) * plane + 32 * (step + 4) * plane
    cube = min(int(cfg["tortuosity_cube_vox"]), n_rows, n) ** 3
    tort = max(cube, min(int(cfg["tortuosity_max_voxels"]), voxels))
    if "tortuosity" in metrics:
        held = max(held, 48 * tort)
    if "sizes" in metrics:
        held = max(held, 80 * slab)
    seconds = 60 + sum(MORPH_SECONDS[m] * voxels for m in metrics if m != "tortuosity")
    if "tortuosity" in metrics:
        solved = min(int(cfg["tortuosity_cubes"]) * cube * 1.15, tort)  # nested REV cubes
        seconds += MORPH_SECONDS["tortuosity"] * solved * 9
    return held, seconds
