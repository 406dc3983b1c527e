"""Ready-made analytic phantoms: Shepp-Logan ellipses and an NMC-cathode pillar.

Both are :class:`~tomosnake.synth.analytic.Phantom` objects, so their projections are exact
(:func:`~tomosnake.synth.analytic.project`) and their truth is
:func:`~tomosnake.synth.analytic.voxelize`.
"""

from __future__ import annotations

import math

import numpy as np

from tomosnake.errors import ConfigError
from tomosnake.synth.analytic import Phantom, Shape, ZCylinder, sphere, spheroid
from tomosnake.synth.phantom import PHASES

#: Toft's modified Shepp-Logan phantom (scikit-image's): value, semi-axes (x, y), centre
#: (x, y) in units of the half-width, rotation in degrees
_SHEPP = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)


def shepp_logan(n_rows: int, n_cols: int, scale: float = 1.0, mu: float = 1.0) -> Phantom:
    """Modified Shepp-Logan ellipses, the same in every row (elliptic cylinders along z).

    Args:
        n_rows: detector rows (the cylinders span them all).
        n_cols: detector width; the phantom's box is ``scale * n_cols`` wide, centred on the
            rotation axis (``scale = 1``: scikit-image's ``shepp_logan_phantom`` resized to
            n_cols, whose outer ellipse reaches 0.92 of the half-width).
        scale: size of the phantom's box as a fraction of the detector width.
        mu: attenuation per voxel of value 1 (the skull); other values scale with it.

    Labels: 1 inside the outer ellipse, 2 for each inner feature, 0 outside.
    """
    half = scale * n_cols / 2.0
    objs: list[Shape] = []
    for i, (value, a, b, x0, y0, phi) in enumerate(_SHEPP):
        objs.append(ZCylinder((y0 * half, x0 * half), (b * half, a * half), 0.0, float(n_rows),
                              mu * value, 1 if i < 2 else 2, phi))
    return Phantom(tuple(objs), {"background": 0, "skull": 1, "feature": 2}, 0, 0)


def nmc_pillar(
    n_rows: int,
    n_cols: int,
    *,
    pillar_fraction: float = 0.6,
    nmc_fraction: float = 0.4,
    radius_mean: float | None = None,
    radius_sigma: float = 0.3,
    bridge_gap: float = 1.0,
    bridge_radius: float = 0.35,
    attenuation: float = 2.0,
    seed: int = 0,
) -> Phantom:
    """An NMC-cathode pillar: polydisperse NMC spheres, binder bridges, resin-filled pores.

    A vertical cylinder of resin (the pore phase, weakly absorbing) of diameter
    ``pillar_fraction * n_cols`` stands in air; non-overlapping log-normal NMC spheres fill it
    to ``nmc_fraction`` of its volume (random sequential addition, largest first; spheres may
    stick out of the top and bottom of the field of view); neighbouring spheres whose surfaces
    are closer than ``bridge_gap * radius_mean`` are joined by a carbon-binder (CBD) bridge:
    the spheroid of radius ``bridge_radius`` x the smaller sphere's radius (at least 1 px)
    whose tips are the spheres' closest points (it touches neither sphere's inside).

    Args:
        n_rows, n_cols: detector size in pixels.
        pillar_fraction: pillar diameter / detector width (> 1: the sample is wider than the
            field of view, as in interior nano-CT).
        nmc_fraction: target NMC volume fraction inside the pillar (non-overlapping spheres
            jam near 0.35; the truth reports the fractions reached: about 0.33 NMC, 0.04 CBD
            with the defaults).
        radius_mean: mean NMC radius in pixels (default ``n_cols / 64``, at least 4).
        radius_sigma: log-normal sigma of the radii.
        bridge_gap, bridge_radius: see above.
        attenuation: mean line integral through the pillar's axis (sets mu: transmission
            about exp(-attenuation) there).
        seed: random seed.

    Labels: pore 0 (resin and the air outside), cbd 1, nmc 2 (``PHASES``); the pillar is
    ``Phantom.sample``.
    """
    if not 0.05 <= pillar_fraction <= 2.0:
        raise ConfigError(f"pillar_fraction {pillar_fraction}: expected 0.05..2 (> 1: a sample "
                          "wider than the field of view)")
    if not 0.0 < nmc_fraction <= 0.6:
        raise ConfigError(f"nmc_fraction {nmc_fraction}: expected 0..0.6 (non-overlapping)")
    rng = np.random.default_rng(seed)
    r_mean = float(radius_mean) if radius_mean else max(4.0, n_cols / 64.0)
    rp = pillar_fraction * n_cols / 2.0
    mu_nmc = attenuation / (2 * rp * (nmc_fraction + 0.05 * (1 - nmc_fraction)))
    mu_pore, mu_cbd = 0.05 * mu_nmc, 0.3 * mu_nmc
    centres, radii = _pack_spheres(rng, rp, n_rows, nmc_fraction, r_mean, radius_sigma)
    objs: list[Shape] = [ZCylinder((0.0, 0.0), (rp, rp), -1e9, 1e9, mu_pore, PHASES["pore"])]
    objs += [sphere(c, r, mu_nmc - mu_pore, PHASES["nmc"]) for c, r in zip(centres, radii,
                                                                             strict=True)]
    objs += _bridges(centres, radii, bridge_gap * r_mean, bridge_radius, mu_cbd - mu_pore)
    return Phantom(tuple(objs), dict(PHASES), PHASES["pore"], 0)


def _pack_spheres(rng: np.random.Generator, rp: float, n_rows: int, fraction: float,
                  r_mean: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping spheres inside a cylinder of radius ``rp`` (centres z, y, x)."""
    z_lo, z_hi = -r_mean, n_rows + r_mean
    volume = math.pi * rp**2 * (z_hi - z_lo)
    wanted: list[float] = []
    while sum(4 / 3 * math.pi * r**3 for r in wanted) < fraction * volume:
        wanted.append(float(np.clip(r_mean * math.exp(sigma * rng.standard_normal()),
                                    0.4 * r_mean, min(3 * r_mean, 0.9 * rp))))
    wanted.sort(reverse=True)
    cell = 2 * wanted[0] + 1
    grid: dict[tuple[int, int, int], list[int]] = {}
    centres: list[np.ndarray] = []
    radii: list[float] = []
    for r in wanted:
        for _ in range(200):
            rad = (rp - r) * math.sqrt(rng.random())
            ang = 2 * math.pi * rng.random()
            c = np.array([rng.uniform(z_lo, z_hi), rad * math.sin(ang), rad * math.cos(ang)])
            key = tuple(int(v // cell) for v in c)
            near = [j for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                    for j in grid.get((key[0] + dz, key[1] + dy, key[2] + dx), ())]
            if all(np.linalg.norm(c - centres[j]) >= r + radii[j] + 0.5 for j in near):
                grid.setdefault(key, []).append(len(centres))
                centres.append(c)
                radii.append(r)
                break
    return np.array(centres).reshape(-1, 3), np.array(radii)


def _bridges(centres: np.ndarray, radii: np.ndarray, max_gap: float, frac: float,
             mu: float) -> list[Shape]:
    """Binder bridges between sphere pairs whose surfaces are closer than ``max_gap``.

    Each is the spheroid whose tips are the two spheres' closest points: it touches both and
    enters neither (each sphere curves away from the gap, the spheroid away from the sphere).
    Spheroids, not cylinders, so their projections are exact and cheap.
    """
    from scipy.spatial import cKDTree

    if len(centres) < 2:
        return []
    tree = cKDTree(centres)
    rods: list[Shape] = []
    for i, j in sorted(tree.query_pairs(2 * radii.max() + max_gap)):
        d = centres[j] - centres[i]
        dist = float(np.linalg.norm(d))
        gap = dist - radii[i] - radii[j]
        if not 0 < gap <= max_gap:
            continue
        a = d / dist
        p0 = centres[i] + a * radii[i]
        p1 = centres[j] - a * radii[j]
        rb = max(1.0, frac * min(radii[i], radii[j]))
        rods.append(spheroid(p0, p1, rb, mu, PHASES["cbd"]))
    return rods
