"""A three-phase NMC-cathode-like phantom with ground-truth labels.

Polydisperse, partly overlapping NMC spheres; carbon-binder domain (CBD) that
fills the necks between neighbouring particles and clings to their surfaces in
patches; pores everywhere else. Labels use the canonical codes pore=0, cbd=1,
nmc=2. Arrays are (z, y, x); lengths in voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage

from tomosnake.phases import PHASES


@dataclass(frozen=True)
class PhantomSpec:
    """Parameters of :func:`nmc_phantom`.

    Attributes:
        shape: volume shape (z, y, x), voxels.
        nmc_fraction: target NMC volume fraction (0..1).
        radius_mean: mean NMC particle radius, voxels (log-normal sizes).
        radius_sigma: log-normal sigma of the radii (0 gives monodisperse spheres).
        neck_radius: CBD fills gaps between particles narrower than about twice this, voxels.
        shell_thickness: thickness of the CBD patches on particle surfaces, voxels.
        shell_coverage: fraction of particle surface covered by CBD patches (0..1).
        seed: random seed.
    """

    shape: tuple[int, int, int] = (32, 96, 96)
    nmc_fraction: float = 0.45
    radius_mean: float = 9.0
    radius_sigma: float = 0.3
    neck_radius: float = 3.0
    shell_thickness: float = 2.5
    shell_coverage: float = 0.5
    seed: int = 0


def _spheres(shape: tuple[int, int, int], target: float, spec: PhantomSpec, rng) -> np.ndarray:
    """Add random log-normal spheres until the solid fraction reaches ``target``."""
    solid = np.zeros(shape, bool)
    vol = solid.size
    while solid.sum() < target * vol:
        r = spec.radius_mean * np.exp(spec.radius_sigma * rng.standard_normal())
        c = [rng.uniform(-r / 2, n + r / 2) for n in shape]
        lo = [max(0, int(ci - r - 1)) for ci in c]
        hi = [min(n, int(ci + r + 2)) for ci, n in zip(c, shape, strict=True)]
        if any(h <= lo_ for lo_, h in zip(lo, hi, strict=True)):
            continue
        sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        zz, yy, xx = np.ogrid[sl]
        d2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        solid[sl] |= d2 <= r * r
    return solid


def nmc_phantom(spec: PhantomSpec = PhantomSpec()) -> np.ndarray:
    """Return uint8 labels (z, y, x): pore=0, cbd=1, nmc=2."""
    rng = np.random.default_rng(spec.seed)
    nmc = _spheres(spec.shape, spec.nmc_fraction, spec, rng)
    # distance of each non-NMC voxel to the nearest NMC voxel (voxels)
    dist_out = edt.edt(~nmc, black_border=False, parallel=2)
    # necks: morphological closing of NMC by a ball of radius neck_radius, done with two EDTs
    dilated = dist_out <= spec.neck_radius
    closed = edt.edt(dilated, black_border=False, parallel=2) > spec.neck_radius
    necks = closed & ~nmc
    # patchy shells: thin layer on the surface where a smooth random field is high
    field = ndimage.gaussian_filter(rng.standard_normal(spec.shape), sigma=spec.radius_mean / 2)
    patch = field > np.quantile(field, 1.0 - spec.shell_coverage)
    shell = (dist_out > 0) & (dist_out <= spec.shell_thickness) & patch
    labels = np.zeros(spec.shape, np.uint8)
    labels[necks | shell] = PHASES["cbd"]
    labels[nmc] = PHASES["nmc"]
    return labels
