"""Centre sweeps: one slice reconstructed at each candidate rotation centre, and a sharpness score.

At a wrong centre every feature is smeared into arcs (180-degree scans) or doubled (360-degree
scans); at the right one the slice holds the most fine detail. :func:`sharpness` scores that
(higher = sharper) as the variance of the slice's high-pass part (the slice minus its 2-pixel
Gaussian blur) inside the reconstruction circle; the high-pass ignores the slow cupping of
samples wider than the field of view. Half-acquisition scans are scored by minus the mean
gradient magnitude (total variation) instead: there a wrong centre also leaves a seam between
the two stitched halves, whose streaks add high-pass variance. (Tried and dropped: the mean
absolute value picks the wrong side on 360-degree and real neutron data; the plain variance
fails on truncated 180-degree scans; total variation fails on full 360-degree scans.)

:func:`center_sweep` computes the slices in one batch (gridrec moves each row's axis by a
phase, so n candidates cost about n/2 single slices) and :func:`write_sweep_tiff` writes them
as a TIFF stack whose pages carry the centre each was reconstructed with (``{"center": c}`` in
the ImageDescription JSON), so a label can never drift from its image (tomocupy#76).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError, InputError
from tomosnake.io import atomic_output
from tomosnake.recon.api import reconstruct

METRIC_NAMES = {
    False: "variance of the high-pass slice in the reconstruction circle (highest = sharpest)",
    True: "minus the mean gradient magnitude in the reconstruction circle (highest = sharpest)",
}


def sharpness(images: np.ndarray, half_acquisition: bool = False,
              radius_fraction: float = 0.45) -> np.ndarray:
    """Sharpness score of each (..., n, n) slice inside a centred circle (higher = sharper).

    The variance of ``slice - gaussian(slice, 2 px)``, or for half-acquisition scans minus
    the mean gradient magnitude (see the module docstring; :data:`METRIC_NAMES`).
    """
    from scipy import ndimage

    img = np.asarray(images, dtype=np.float32)
    n = img.shape[-1]
    yy, xx = np.ogrid[:n, :n]
    inside = (yy - n / 2 + 0.5) ** 2 + (xx - n / 2 + 0.5) ** 2 < (radius_fraction * n) ** 2
    if half_acquisition:
        gy, gx = np.diff(img, axis=-2)[..., :-1], np.diff(img, axis=-1)[..., :-1, :]
        return -np.sqrt(gy * gy + gx * gx)[..., inside[:-1, :-1]].mean(axis=-1)
    high = img - ndimage.gaussian_filter(img, 2.0, axes=(-2, -1))
    return high[..., inside].var(axis=-1)


def sweep_centers(start: float, stop: float, step: float) -> np.ndarray:
    """Candidate centres start, start + step, ... up to and including ``stop`` (rounded)."""
    if step <= 0 or stop < start:
        raise ConfigError(f"centre sweep {start}:{stop}:{step}: need step > 0 and stop >= start")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    if n > 401:
        raise ConfigError(f"centre sweep {start}:{stop}:{step} asks for {n} slices (at most 401)")
    return np.round(start + step * np.arange(n), 6)


def center_sweep(
    sino_rows: np.ndarray,
    theta: np.ndarray,
    centers: Sequence[float] | np.ndarray,
    *,
    half_acquisition: bool = False,
    algorithm: str = "gridrec",
    filter_name: str = "shepp",
    device: str = "auto",
) -> tuple[np.ndarray, list[float]]:
    """Reconstruct one slice per candidate centre and score each (:func:`sharpness`, higher =
    sharper).

    Args:
        sino_rows: a sinogram (angle, x) or a few adjacent rows (angle, rows, x), line
            integrals; rows are averaged (a thicker, less noisy slice).
        theta: angles, radians.
        centers: candidate centres on this detector (tomopy convention).
        half_acquisition: a 360-degree offset-axis scan: each candidate is stitched to a
            180-degree sinogram of common width (:func:`stitch_half_acquisition`) first.
        algorithm, filter_name, device: as :func:`~tomosnake.recon.reconstruct`.

    Returns:
        (images float32 (n_centres, n, n), metric per centre); ``images[i]`` was reconstructed
        with ``centers[i]`` exactly.
    """
    from tomosnake.preprocess.half_acquisition import stitch_half_acquisition

    s = np.asarray(sino_rows, dtype=np.float32)
    if s.ndim == 3:
        s = s.mean(axis=1)
    if s.ndim != 2:
        raise InputError(f"sweep needs a sinogram (angle, x) or rows (angle, r, x), got {s.shape}")
    cs = np.asarray(centers, dtype=np.float64).ravel()
    if cs.size == 0:
        raise ConfigError("centre sweep: no candidate centres")
    if half_acquisition:
        n = s.shape[1]
        width = 2 * int(np.ceil(max(np.max(np.maximum(cs, n - cs)), 1) - 1e-6))
        parts = [stitch_half_acquisition(s, theta, float(c), width=width) for c in cs]
        proj = np.stack([p[0] for p in parts], axis=1)
        th, rec_c = parts[0][1], np.array([p[2] for p in parts])
        # score only where every candidate has data (columns beyond a candidate's own
        # stitched width are filled with edge values)
        radius = 0.9 * float(np.min(np.maximum(cs, n - cs))) / width
    else:
        proj, th, rec_c = np.broadcast_to(s[:, None, :], (s.shape[0], cs.size, s.shape[1])), \
            theta, cs
        radius = 0.45
    images = reconstruct(proj, th, rec_c, algorithm=algorithm, filter_name=filter_name,
                         device=device)
    return images, [float(v) for v in sharpness(images, half_acquisition, radius)]


def write_sweep_tiff(path: str | os.PathLike[str], images: np.ndarray,
                     centers: Sequence[float]) -> Path:
    """Write sweep slices as a float32 TIFF stack, page i described by ``{"center": c_i}``.

    An empty sweep (no images) writes one 1 x 1 NaN page described ``{"center": null}``, so
    a workflow output always exists. Written atomically.
    """
    import tifffile

    imgs = np.asarray(images, dtype=np.float32)
    cs = [float(c) for c in centers]
    if imgs.ndim != 3 or imgs.shape[0] != len(cs):
        raise InputError(f"sweep: {len(cs)} centres for images of shape {imgs.shape}")
    pages: list[tuple[np.ndarray, dict[str, Any]]] = [
        (img, {"center": c}) for img, c in zip(imgs, cs, strict=True)]
    if not pages:
        pages = [(np.full((1, 1), np.nan, np.float32), {"center": None})]
    with atomic_output(path) as tmp, tifffile.TiffWriter(tmp) as tw:
        for img, desc in pages:
            tw.write(img, description=json.dumps(desc), metadata=None,
                     photometric="minisblack")
    return Path(path)


def read_sweep_tiff(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[float | None]]:
    """Read a sweep TIFF back: (images (n, h, w), centre of each page)."""
    import tifffile

    with tifffile.TiffFile(path) as tf:
        images = np.stack([p.asarray() for p in tf.pages])
        centers = [json.loads(p.description or "{}").get("center") for p in tf.pages]
    return images, centers
