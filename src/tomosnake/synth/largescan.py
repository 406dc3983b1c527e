"""Raw scans of any size from exact line integrals, written block by block: a large-scan generator.

:func:`write_analytic_scan` projects an analytic phantom (:mod:`tomosnake.synth.analytic`) one
block of angles at a time, turns the line integrals into detector counts (smooth beam, pixel
gain, Poisson photon noise, dark current with read noise, optional ring-causing columns and
zingers, a beam intensity that drifts during the scan) and writes them as a beamline would
(DXchange HDF5 or a TIFF stack), so memory is one block whatever the scan size. The axis may be
tilted (a per-row centre) and the stage may drift (a per-projection shift).

Flats may be taken before and after the scan (``n_flats`` each); with ``flat_drift`` the beam
grows linearly from 1 (flats before, and projection 0) to ``1 + flat_drift`` (flats after, and
the last projection), projection ``i`` sitting at ``1 + flat_drift * i / (n_proj - 1)``:
interpolating the two flat sets by projection index normalises exactly. DXchange:
``/exchange/data_white`` holds the flats before then the flats after, and the
root attribute ``tomosnake_meta`` (JSON) says ``flat_position`` ("before" or "both"),
``n_flats_before`` and ``n_flats_after``; TIFF stacks carry the same keys in ``scan.json``'s
``meta``. The per-projection drift is recorded as ``alignment_shifts_px`` (``[[dy, dx], ...]``:
the content of projection i moved by dy rows and dx columns; readers return the negated
shifts as the file's alignment shifts, which ingest applies with
:func:`tomosnake.preprocess.pipeline.shift_frames`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError
from tomosnake.io import atomic_output
from tomosnake.progress import track
from tomosnake.synth.analytic import Phantom, project, voxelize

FORMATS = ("dxchange", "tiff")
#: float32 line integrals per block of angles (bytes); the counts and noise take about 4x more
BLOCK_BYTES = 128 * 2**20


@dataclass(frozen=True)
class AnalyticScan:
    """What :func:`write_analytic_scan` wrote, with the truth to check a reconstruction against.

    Attributes:
        path: the scan file (DXchange) or folder (TIFF).
        phantom: the objects.
        theta: angles, radians.
        n_rows, n_cols: detector size.
        center0: axis at the middle height ``z_mid = n_rows / 2`` (tomopy convention).
        tilt_px_per_row: d(centre)/d(row): the axis at height z is
            ``center0 + tilt_px_per_row * (z - z_mid)``.
        shifts: (n_proj, 2) stage drift (dy, dx) in pixels applied to each projection.
        pixel_size_um: pixel size, micrometres.
    """

    path: Path
    phantom: Phantom
    theta: np.ndarray
    n_rows: int
    n_cols: int
    center0: float
    tilt_px_per_row: float
    shifts: np.ndarray
    pixel_size_um: float

    def center_at(self, z: np.ndarray | float) -> np.ndarray:
        """Axis position at heights ``z`` (detector rows, continuous)."""
        return self.center0 + self.tilt_px_per_row * (np.asarray(z, dtype=np.float64)
                                                      - self.n_rows / 2)

    @property
    def centers(self) -> np.ndarray:
        """True centre of every detector row (at the row's middle height), tomopy convention."""
        return self.center_at(np.arange(self.n_rows) + 0.5)

    def voxelize(self, z0: int, z1: int, n: int | None = None,
                 supersample: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Truth of slices z0:z1 on reconstruct's n x n grid (default n = n_cols).

        Returns (mu float32 per voxel length, labels uint8), see
        :func:`tomosnake.synth.analytic.voxelize`.
        """
        return voxelize(self.phantom, z0, z1, n or self.n_cols, supersample)


def drift_path(n_proj: int, amplitude_px: float, seed: int = 0) -> np.ndarray:
    """A smooth random stage drift (n_proj, 2) of (dy, dx), 0 at the first projection.

    Each component is a smoothed random walk scaled so its largest magnitude is
    ``amplitude_px``.
    """
    if amplitude_px == 0 or n_proj < 2:
        return np.zeros((n_proj, 2))
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(seed + 7919)
    walk = np.cumsum(rng.standard_normal((n_proj, 2)), axis=0)
    walk = gaussian_filter1d(walk, max(1.0, n_proj / 50), axis=0, mode="nearest")
    walk -= walk[0]
    return walk * (amplitude_px / np.maximum(np.abs(walk).max(axis=0), 1e-12))


def _check(n_proj: int, n_rows: int, n_cols: int, fmt: str, photons: float,
           theta_range_deg: float) -> None:
    if min(n_proj, n_rows, n_cols) < 1 or n_cols < 8:
        raise ConfigError(f"scan shape ({n_proj}, {n_rows}, {n_cols}): expected at least one "
                          "projection and row and 8 columns")
    if fmt not in FORMATS:
        raise ConfigError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not 0 < photons <= 50000:
        raise ConfigError(f"photons {photons:g}: expected 0 < photons <= 50000 "
                          "(more saturates 16-bit counts)")
    if theta_range_deg not in (180, 360):
        raise ConfigError(f"theta_range_deg {theta_range_deg}: expected 180 or 360")


def write_analytic_scan(
    path: str | os.PathLike[str],
    phantom: Phantom,
    n_proj: int,
    n_rows: int,
    n_cols: int,
    *,
    theta_range_deg: float = 180.0,
    center: float | None = None,
    tilt_px_per_row: float = 0.0,
    shifts: np.ndarray | None = None,
    fmt: str = "dxchange",
    photons: float = 20000.0,
    n_flats: int = 10,
    flats_after: bool = False,
    flat_drift: float = 0.0,
    n_darks: int = 5,
    dark_level: float = 100.0,
    read_noise: float = 3.0,
    ring_columns: int = 0,
    zinger_rate: float = 0.0,
    pixel_size_um: float = 1.0,
    energy_kev: float = 20.0,
    seed: int = 0,
    sub_x: int = 4,
) -> AnalyticScan:
    """Write a raw uint16 scan of ``phantom`` with Poisson noise, one block of angles at a time.

    Args:
        path: ``.h5`` file (DXchange) or folder (TIFF stack), written atomically.
        phantom: analytic phantom (:mod:`tomosnake.synth.presets` has two).
        n_proj, n_rows, n_cols: projections, detector rows and columns.
        theta_range_deg: 180 or 360; angles evenly spaced over [0, range).
        center: axis at the middle height (tomopy convention; default ``n_cols / 2``).
        tilt_px_per_row: axis tilt, the change of the centre per detector row.
        shifts: None or (n_proj, 2) stage drift (dy, dx) per projection, pixels (see
            :func:`drift_path`).
        fmt: "dxchange" or "tiff".
        photons: mean open-beam counts per pixel (Poisson noise).
        n_flats: flat frames before the scan (and as many after if ``flats_after``).
        flat_drift: relative beam change from the flats before to the flats after.
        n_darks, dark_level, read_noise: dark frames, their mean and Gaussian sigma (counts).
        ring_columns: columns whose gain differs by 3-8 % between flats and projections.
        zinger_rate: fraction of projection pixels hit by a zinger (saturated).
        pixel_size_um, energy_kev: metadata.
        seed: noise seed.
        sub_x: rays per pixel for rods (see :func:`~tomosnake.synth.analytic.project`).

    Returns:
        :class:`AnalyticScan` (true per-row centres, drift, and ``voxelize`` for the truth).
    """
    _check(n_proj, n_rows, n_cols, fmt, photons, theta_range_deg)
    c0 = n_cols / 2.0 if center is None else float(center)
    sh = np.zeros((n_proj, 2)) if shifts is None else np.asarray(shifts, dtype=np.float64)
    if sh.shape != (n_proj, 2):
        raise ConfigError(f"shifts must be ({n_proj}, 2) (dy, dx per projection), got {sh.shape}")
    theta = np.linspace(0.0, np.deg2rad(theta_range_deg), n_proj, endpoint=False)
    scan = AnalyticScan(Path(path), phantom, theta, n_rows, n_cols, c0, float(tilt_px_per_row),
                        sh, float(pixel_size_um))
    rng = np.random.default_rng(seed)
    zz = np.linspace(-1, 1, n_rows)[:, None]
    xx = np.linspace(-1, 1, n_cols)[None, :]
    open_beam = (photons * (1 - 0.25 * xx**2) * (1 - 0.1 * zz**2)
                 * (1 + 0.02 * rng.standard_normal((n_rows, n_cols)))).astype(np.float32)
    gain = np.ones(n_cols, np.float32)
    if ring_columns:
        cols = rng.choice(np.arange(8, n_cols - 8), size=ring_columns, replace=False)
        gain[cols] += rng.choice([-1, 1], ring_columns) * rng.uniform(0.03, 0.08, ring_columns)

    def counts(expected: np.ndarray) -> np.ndarray:
        noisy = rng.poisson(np.maximum(expected, 0)).astype(np.float32)
        noisy += dark_level + read_noise * rng.standard_normal(expected.shape, np.float32)
        return np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)

    n_after = n_flats if flats_after else 0
    flats = np.stack([counts(open_beam) for _ in range(n_flats)]
                     + [counts(open_beam * (1 + flat_drift)) for _ in range(n_after)])
    darks = counts(np.zeros((n_darks, n_rows, n_cols), np.float32))
    meta = {
        "source": str(path), "format": "simulated-analytic",
        "pixel_size_um": pixel_size_um, "energy_kev": energy_kev,
        "flat_position": "both" if n_after else "before",
        "n_flats_before": n_flats, "n_flats_after": n_after,
        "alignment_shifts_px": sh.round(4).tolist() if shifts is not None else None,
        "true_center": c0, "tilt_px_per_row": float(tilt_px_per_row),
    }
    block = max(1, min(n_proj, BLOCK_BYTES // (4 * n_rows * n_cols)))

    def blocks():
        for a0 in track(range(0, n_proj, block), "analytic projections"):
            a1 = min(n_proj, a0 + block)
            line = project(phantom, theta[a0:a1], n_rows, n_cols, scan.center_at, sh[a0:a1],
                           sub_x=sub_x)
            beam = 1 + flat_drift * np.arange(a0, a1) / max(1, n_proj - 1)
            expected = open_beam[None] * gain * beam[:, None, None].astype(np.float32)
            expected *= np.exp(-line)
            out = counts(expected)
            if zinger_rate:
                out[rng.random(out.shape) < zinger_rate] = 65535
            yield a0, out

    writer = _write_dxchange if fmt == "dxchange" else _write_tiffs
    writer(Path(path), (n_proj, n_rows, n_cols), theta, flats, darks, meta, blocks())
    return scan


def _write_dxchange(path: Path, shape: tuple[int, int, int], theta: np.ndarray,
                    flats: np.ndarray, darks: np.ndarray, meta: dict[str, Any], blocks) -> None:
    import h5py

    from tomosnake.io.dxchange import DARK, DATA, ENERGY, FLAT, META_ATTR, PIXEL_SIZE, THETA

    with atomic_output(path) as tmp, h5py.File(tmp, "w") as fh:
        fh.attrs["implements"] = "exchange:measurement"
        ds = fh.create_dataset(DATA, shape=shape, dtype=np.uint16, chunks=(1, *shape[1:]))
        for a0, frames in blocks:
            ds[a0 : a0 + len(frames)] = frames
        fh.create_dataset(FLAT, data=flats, chunks=(1, *shape[1:]))
        fh.create_dataset(DARK, data=darks, chunks=(1, *shape[1:]))
        fh.create_dataset(THETA, data=np.rad2deg(theta)).attrs["units"] = "deg"
        fh.create_dataset(PIXEL_SIZE, data=float(meta["pixel_size_um"])).attrs["units"] = "um"
        fh.create_dataset(ENERGY, data=float(meta["energy_kev"])).attrs["units"] = "keV"
        extra = {k: v for k, v in meta.items() if k not in ("source", "pixel_size_um",
                                                             "energy_kev", "format")}
        fh.attrs[META_ATTR] = json.dumps(extra)


def _write_tiffs(path: Path, shape: tuple[int, int, int], theta: np.ndarray, flats: np.ndarray,
                 darks: np.ndarray, meta: dict[str, Any], blocks) -> None:
    import tifffile

    from tomosnake.io.tiffscan import LAYOUT, SIDECAR

    with atomic_output(path) as tmp:
        tmp.mkdir()
        for a0, frames in blocks:
            for i, frame in enumerate(frames):
                tifffile.imwrite(tmp / f"proj_{a0 + i:05d}.tif", frame, photometric="minisblack")
        for kind, frames in (("flat", flats), ("dark", darks)):
            for i, frame in enumerate(frames):
                tifffile.imwrite(tmp / f"{kind}_{i:05d}.tif", frame, photometric="minisblack")
        side = {
            "layout": LAYOUT,
            "angles_deg": np.rad2deg(theta).tolist(),
            "pixel_size_um": meta["pixel_size_um"], "energy_kev": meta["energy_kev"],
            "distance_m": None,
            "meta": {k: v for k, v in meta.items() if k not in ("source", "pixel_size_um",
                                                                 "energy_kev")},
        }
        (tmp / SIDECAR).write_text(json.dumps(side, indent=1))


def write_analytic_truth(scan: AnalyticScan, path: str | os.PathLike[str],
                         crop: int | None = None, slab_rows: int = 16) -> Path:
    """Ground truth of ``scan`` as a zarr v3 group, written slab by slab (bounded memory).

    Arrays ``labels`` (uint8) and ``mu`` (float32 per voxel) of shape (n_rows, n, n) on the
    reconstruction grid (n = ``crop`` or the detector width, centred on the axis), ``sample``
    (uint8, 1 inside the phantom's sample object, if it has one); attributes ``center`` (at the
    middle row), ``per_row_center``, ``tilt_px_per_row``, ``phases``, ``volume_fractions``
    (inside the sample where there is one), ``voxel_size_um``.
    """
    import zarr

    from tomosnake.synth.analytic import voxelize as vox

    n = crop or scan.n_cols
    counts: dict[int, int] = {}
    total = 0
    ph = scan.phantom
    sample = ph.sample
    with atomic_output(path) as tmp:
        root = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        chunks = (min(slab_rows, scan.n_rows), n, n)
        shape = (scan.n_rows, n, n)
        lab = root.create_array("labels", shape=shape, dtype="uint8", chunks=chunks)
        mu = root.create_array("mu", shape=shape, dtype="float32", chunks=chunks)
        smp = (root.create_array("sample", shape=shape, dtype="uint8", chunks=chunks)
               if sample is not None else None)
        for z0 in track(range(0, scan.n_rows, slab_rows), "truth slabs"):
            z1 = min(scan.n_rows, z0 + slab_rows)
            m, lb = scan.voxelize(z0, z1, n)
            lab[z0:z1], mu[z0:z1] = lb, m
            inside = np.ones(lb.shape, bool)
            if smp is not None:
                only = Phantom((dataclasses.replace(ph.objects[sample], label=1),))
                inside = vox(only, z0, z1, n)[1] > 0
                smp[z0:z1] = inside
            vals, cnt = np.unique(lb[inside], return_counts=True)
            for v, c in zip(vals.tolist(), cnt.tolist(), strict=True):
                counts[v] = counts.get(v, 0) + c
            total += int(inside.sum())
        root.attrs.update({
            "center": float(scan.center_at(scan.n_rows / 2)),
            "per_row_center": scan.centers.round(6).tolist(),
            "tilt_px_per_row": scan.tilt_px_per_row,
            "phases": dict(ph.phases),
            "volume_fractions": {name: counts.get(code, 0) / max(total, 1)
                                 for name, code in ph.phases.items()},
            "voxel_size_um": scan.pixel_size_um,
        })
    return Path(path)


#: keys of a ``simulate.NAME`` config entry with ``generator: analytic``, with defaults
CONFIG_DEFAULTS: dict[str, Any] = {
    "generator": "analytic", "preset": "nmc", "rows": 64, "cols": 256, "angles": 361,
    "range": 180, "center_offset": 0.0, "tilt_px_per_row": 0.0, "drift_px": 0.0,
    "photons": 20000.0, "flats": 10, "flats_after": False, "flat_drift": 0.0, "darks": 5,
    "ring_columns": 0, "pixel_size_um": 0.25, "truth_crop": None, "seed": 0,
    "nmc_fraction": 0.4, "pillar_fraction": 0.6, "radius_mean": None, "attenuation": 2.0,
}


def analytic_from_config(path: str | os.PathLike[str], cfg: Mapping[str, Any],
                         fmt: str = "dxchange",
                         truth: str | os.PathLike[str] | None = None) -> tuple[Path, Path | None]:
    """Write a scan (and its truth) from a ``simulate.NAME`` config entry (``CONFIG_DEFAULTS``).

    ``preset``: ``nmc`` (:func:`~tomosnake.synth.presets.nmc_pillar`) or ``shepp``
    (:func:`~tomosnake.synth.presets.shepp_logan`). ``drift_px``: amplitude of a smooth random
    stage drift (:func:`drift_path`). Returns (scan path, truth path or None).
    """
    from tomosnake.synth.presets import nmc_pillar, shepp_logan

    unknown = set(cfg) - set(CONFIG_DEFAULTS)
    if unknown:
        raise ConfigError(f"simulate: unknown keys {sorted(unknown)} for the analytic generator; "
                          f"allowed: {', '.join(sorted(CONFIG_DEFAULTS))}")
    c = {**CONFIG_DEFAULTS, **cfg}
    rows, cols, seed = int(c["rows"]), int(c["cols"]), int(c["seed"])
    if c["preset"] == "nmc":
        ph = nmc_pillar(rows, cols, pillar_fraction=c["pillar_fraction"],
                        nmc_fraction=c["nmc_fraction"], radius_mean=c["radius_mean"],
                        attenuation=c["attenuation"], seed=seed)
    elif c["preset"] == "shepp":
        ph = shepp_logan(rows, cols, scale=0.9, mu=c["attenuation"] / (0.9 * 0.92 * cols))
    else:
        raise ConfigError(f"simulate preset {c['preset']!r}: expected 'nmc' or 'shepp'")
    n_proj = int(c["angles"])
    scan = write_analytic_scan(
        path, ph, n_proj, rows, cols, theta_range_deg=float(c["range"]),
        center=cols / 2 + float(c["center_offset"]), tilt_px_per_row=float(c["tilt_px_per_row"]),
        shifts=drift_path(n_proj, float(c["drift_px"]), seed) if c["drift_px"] else None,
        fmt=fmt, photons=float(c["photons"]), n_flats=int(c["flats"]),
        flats_after=bool(c["flats_after"]), flat_drift=float(c["flat_drift"]),
        n_darks=int(c["darks"]), ring_columns=int(c["ring_columns"]),
        pixel_size_um=float(c["pixel_size_um"]), seed=seed)
    if truth is None:
        return scan.path, None
    return scan.path, write_analytic_truth(scan, truth, c["truth_crop"])
