"""Beamtime simulator: raw parallel-beam scans of the NMC phantom, as a beamline writes them.

The phantom's attenuation (per voxel length) is forward-projected over 180 or 360
degrees with the rotation axis off the detector centre, then turned into detector
counts with a non-uniform beam, per-pixel gain, Poisson photon noise, dark
current with read-out noise, a few miscalibrated detector columns (stripes in
the sinogram, rings in the reconstruction) and zingers. Flats and darks are
simulated with the same detector. Everything is seeded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from tomosnake.errors import ConfigError
from tomosnake.io import RawScan, atomic_output
from tomosnake.io.volume import _jsonable
from tomosnake.synth.phantom import PHASES, PhantomSpec, nmc_phantom

#: attenuation per voxel length of each phase (NMC strongly, CBD weakly absorbing)
DEFAULT_MU = {"pore": 0.0, "cbd": 0.008, "nmc": 0.03}


@dataclass(frozen=True)
class ScanSpec:
    """Acquisition parameters of a simulated scan.

    Attributes:
        phantom: the sample (its shape (z, y, x) in voxels = detector pixels).
        n_angles: number of projections.
        theta_range_deg: 180 or 360 (angles evenly spaced over [0, range), radians on disk).
        center_offset_px: rotation axis minus detector middle (n_det / 2), pixels.
        n_det: detector columns; 0 picks the smallest even width that sees the whole
            sample at every angle (about sqrt(2) * width + margin).
        photons: mean flat-field counts per pixel (sets the Poisson noise).
        n_flats, n_darks: number of flat and dark frames.
        dark_level: dark-current counts; read_noise: its Gaussian sigma, counts.
        ring_columns: number of detector columns whose gain differs between flats and
            projections (each by 3-8 %), the classic source of ring artefacts.
        zinger_rate: fraction of projection pixels hit by a zinger (saturated count).
        mu: attenuation per voxel of each phase name.
        pixel_size_um: detector pixel size = voxel size, micrometres.
        energy_kev: beam energy, keV (metadata only).
        seed: random seed of the acquisition noise.
    """

    phantom: PhantomSpec = PhantomSpec()
    n_angles: int = 181
    theta_range_deg: float = 180.0
    center_offset_px: float = 3.3
    n_det: int = 0
    photons: float = 20000.0
    n_flats: int = 10
    n_darks: int = 5
    dark_level: float = 100.0
    read_noise: float = 3.0
    ring_columns: int = 6
    zinger_rate: float = 2e-4
    mu: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MU))
    pixel_size_um: float = 0.25
    energy_kev: float = 8.0
    seed: int = 1

    @property
    def detector_width(self) -> int:
        """Detector columns actually used."""
        if self.n_det:
            return self.n_det
        _, ny, nx = self.phantom.shape
        width = math.ceil(math.hypot(ny, nx) + 2 * abs(self.center_offset_px)) + 8
        return width + width % 2

    @property
    def true_center(self) -> float:
        """Rotation axis as a detector column coordinate (tomopy convention: middle = n/2)."""
        return self.detector_width / 2 + self.center_offset_px

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for metadata)."""
        return dataclasses.asdict(self)


def make_spec(
    shape: tuple[int, int, int] | list[int] = (32, 96, 96),
    angles: int = 181,
    range: float = 180.0,  # noqa: A002 - the config key users write
    center_offset: float = 3.3,
    photons: float = 20000.0,
    nmc_fraction: float = 0.45,
    pixel_size_um: float = 0.25,
    seed: int = 1,
) -> ScanSpec:
    """Build a :class:`ScanSpec` from the flat options of the CLI and config.

    Raises :class:`ConfigError` naming the option for impossible values.
    """
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) < 8:
        raise ConfigError(f"simulate shape {shape}: expected 3 axes of at least 8 voxels")
    if angles < 8:
        raise ConfigError(f"simulate angles {angles}: need at least 8 projections")
    if range not in (180, 360):
        raise ConfigError(f"simulate range {range}: expected 180 or 360 degrees")
    if not 0.05 <= nmc_fraction <= 0.8:
        raise ConfigError(f"simulate nmc_fraction {nmc_fraction}: expected 0.05..0.8")
    if photons <= 0 or pixel_size_um <= 0:
        raise ConfigError("simulate photons and pixel_size_um must be positive")
    return ScanSpec(
        phantom=PhantomSpec(shape=shape, nmc_fraction=nmc_fraction, seed=seed),
        n_angles=angles,
        theta_range_deg=float(range),
        center_offset_px=center_offset,
        photons=photons,
        pixel_size_um=pixel_size_um,
        seed=seed,
    )


def _uint16(counts: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(counts), 0, 65535).astype(np.uint16)


def simulate_scan(spec: ScanSpec = ScanSpec()) -> tuple[RawScan, dict[str, Any]]:
    """Simulate one raw scan.

    Returns:
        (scan, truth): ``scan`` holds uint16 projections (angle, z, x), flats and darks and
        angles in radians; ``truth`` holds ``labels`` (uint8 (z, y, x), pore=0 cbd=1 nmc=2),
        ``mu`` (float32 attenuation per voxel), ``center`` (true axis, tomopy convention),
        ``volume_fractions`` and ``phases``.
    """
    from tomosnake.recon import forward_project

    rng = np.random.default_rng(spec.seed)
    labels = nmc_phantom(spec.phantom)
    mu = np.zeros(labels.shape, np.float32)
    for name, code in PHASES.items():
        mu[labels == code] = spec.mu.get(name, 0.0)
    theta = np.linspace(0.0, np.deg2rad(spec.theta_range_deg), spec.n_angles, endpoint=False)
    n_det = spec.detector_width
    line = forward_project(mu, theta, center=spec.true_center, n_det=n_det)
    nz = labels.shape[0]

    # beam: smooth profile in x and z, and per-pixel detector gain (cancels in flat-field)
    xx = np.linspace(-1, 1, n_det)
    zz = np.linspace(-1, 1, nz)[:, None]
    beam = spec.photons * (1.0 - 0.25 * xx**2) * (1.0 - 0.1 * zz**2)
    gain = 1.0 + 0.02 * rng.standard_normal((nz, n_det))
    open_beam = (beam * gain).astype(np.float32)
    brightest = float(open_beam.max()) * 1.08 + spec.dark_level + 5 * np.sqrt(open_beam.max())
    if brightest >= 65535:
        raise ConfigError(
            f"simulate photons {spec.photons:g}: flat-field counts reach ~{brightest:.0f}, "
            "which saturates the 16-bit detector (65535); use at most about 50000"
        )

    def detector(expected: np.ndarray) -> np.ndarray:
        noisy = rng.poisson(np.maximum(expected, 0)).astype(np.float32)
        return noisy + spec.dark_level + spec.read_noise * rng.standard_normal(expected.shape)

    flats = _uint16(np.stack([detector(open_beam) for _ in range(spec.n_flats)]))
    darks = _uint16(
        spec.dark_level + spec.read_noise * rng.standard_normal((spec.n_darks, nz, n_det))
    )
    drift = np.ones(n_det, np.float32)
    cols = rng.choice(np.arange(8, n_det - 8), size=spec.ring_columns, replace=False)
    drift[cols] += rng.choice([-1, 1], spec.ring_columns) * rng.uniform(0.03, 0.08, cols.size)
    proj = detector(open_beam[None] * drift * np.exp(-line))
    hits = rng.random(proj.shape) < spec.zinger_rate
    proj[hits] = 65535
    scan = RawScan(
        proj=_uint16(proj),
        theta=theta,
        flat=flats,
        dark=darks,
        meta={
            "source": "tomosnake simulate",
            "format": "simulated",
            "pixel_size_um": spec.pixel_size_um,
            "energy_kev": spec.energy_kev,
        },
    )
    counts = np.bincount(labels.ravel(), minlength=3) / labels.size
    truth = {
        "labels": labels,
        "mu": mu,
        "center": spec.true_center,
        "phases": dict(PHASES),
        "volume_fractions": {name: float(counts[code]) for name, code in PHASES.items()},
        "ring_columns": sorted(int(c) for c in cols),
    }
    return scan, truth


def truth_path(scan_path: str | os.PathLike[str]) -> Path:
    """Where the ground truth of a simulated scan file lives: ``NAME_truth.zarr`` beside it."""
    p = Path(scan_path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}_truth.zarr")


def write_truth(truth: dict[str, Any], path: str | os.PathLike[str], spec: ScanSpec) -> Path:
    """Write the ground truth as a zarr v3 group (arrays ``labels``, ``mu``; attrs the rest)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        root = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        for name in ("labels", "mu"):
            arr = root.create_array(name, shape=truth[name].shape, dtype=truth[name].dtype)
            arr[...] = truth[name]
        attrs = {k: v for k, v in truth.items() if k not in ("labels", "mu")}
        attrs["voxel_size_um"] = spec.pixel_size_um
        attrs["spec"] = json.loads(json.dumps(_jsonable(spec.to_dict())))
        root.attrs.update(_jsonable(attrs))
    return path


def write_simulated_scan(
    path: str | os.PathLike[str], spec: ScanSpec = ScanSpec(), fmt: str = "dxchange"
) -> tuple[Path, Path]:
    """Simulate a scan and write it as a beamline would, with its ground truth beside it.

    Args:
        path: output file (``.h5`` for DXchange) or folder (TIFF stack).
        spec: acquisition parameters.
        fmt: ``"dxchange"`` (HDF5 /exchange/data, data_white, data_dark, theta) or ``"tiff"``.

    Returns:
        (scan path, truth path).
    """
    from tomosnake.io import write_dxchange, write_tiff_scan

    writers = {"dxchange": write_dxchange, "tiff": write_tiff_scan}
    if fmt not in writers:
        raise ConfigError(f"simulate: unknown format {fmt!r}; expected one of {sorted(writers)}")
    scan, truth = simulate_scan(spec)
    scan.meta["source"] = str(path)
    writers[fmt](scan, path)
    return Path(path), write_truth(truth, truth_path(path), spec)


def write_from_config(path: str | os.PathLike[str], cfg: dict[str, Any],
                      fmt: str = "dxchange") -> tuple[Path, Path]:
    """Write a simulated scan and its truth (``NAME_truth.zarr``) from a ``simulate.NAME`` entry.

    ``generator: siddon`` (default) is this module's simulator (:func:`make_spec` keys);
    ``generator: analytic`` the large-scan generator
    (:func:`tomosnake.synth.largescan.analytic_from_config` keys).
    """
    cfg = dict(cfg)
    generator = cfg.pop("generator", "siddon")
    if generator == "analytic":
        from tomosnake.synth.largescan import analytic_from_config

        scan, truth = analytic_from_config(path, cfg, fmt, truth=truth_path(path))
        return scan, truth  # type: ignore[return-value]
    if generator != "siddon":
        raise ConfigError(f"simulate generator {generator!r}: expected 'siddon' or 'analytic'")
    return write_simulated_scan(path, make_spec(**cfg), fmt)
