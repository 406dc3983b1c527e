"""Tortuosity where it is computable: the whole sample box, or cubes inside the sample (REV).

A sample whose region is a box (mode ``none`` or ``box``, or an ``auto`` region filling
its bounding box) of at most ``tortuosity_max_voxels`` voxels is solved whole
(``method: "whole"``). Otherwise tortuosity is solved on cubic sub-volumes that lie
entirely inside the sample (``method: "subvolumes"``): Dirichlet faces on two opposite
cube faces, no flux through the other four, as for a whole box.

Cube placement: for an edge ``c``, the sample's bounding box is tiled by a grid of
``c``-cubes (centred in the box), the cubes entirely inside the sample are kept, and at
most ``tortuosity_cubes`` of them are taken, evenly spread over that list (z-major
order). The largest edge is ``tortuosity_cube_vox`` or, if no cube of that edge fits,
the largest edge (in steps of 15 %, down to 8 voxels) with at least
``min(4, tortuosity_cubes)`` cubes (else at least one). The record's tau is the mean over
the cubes of the largest edge whose phase percolates, with their standard deviation;
``eps``, ``eps_percolating`` are cube means, ``d_rel = eps / tau`` and
``macmullin = tau / eps``.

The representative-volume-element check: the same at ``tortuosity_rev_sizes`` edges
(halving, not below 8 voxels), on cubes nested in the chosen largest ones (each largest
cube tiled by cubes of the smaller edge, at most ``tortuosity_cubes`` of them evenly spread
over all), reported per phase and axis as ``tortuosity_rev`` {cube_vox, tau_mean, tau_std,
n} (ascending edge; ``n`` counts the cubes with a finite tau). A tau that still drifts
between the two largest edges says the cubes are smaller than the REV. Nesting means each
largest cube is read once and the smaller ones cost no reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tomosnake.morph.blocks import slab_planes, slabs
from tomosnake.morph.sample import Region, fills_box
from tomosnake.morph.tortuosity import TortuosityResult, tortuosity
from tomosnake.progress import track

MIN_EDGE = 8
#: candidate cube edges placed per pass over the sample mask
_EDGES_PER_PASS = 4


def _grid(lo: int, hi: int, edge: int, fewer: int = 0) -> np.ndarray:
    """Starts of ``n - fewer`` ``edge``-cubes tiling [lo, hi) (n: as many as fit), centred."""
    n = max((hi - lo) // edge - fewer, 0)
    start = lo + ((hi - lo) - n * edge) // 2
    return start + edge * np.arange(n)


def placements(
    region: Region, sample: Mapping[str, Any], edges: Sequence[int], slab_voxels: int | None
) -> dict[int, np.ndarray]:
    """Corners (z, y, x) of the grid cubes of each edge that lie entirely inside the sample,
    an (n, 3) integer array per edge (z-major order).

    In y and x, two centred grids are tried (as many cubes as fit, and one fewer, which
    shifts the grid by half a cube); the combination with most cubes inside wins.
    """
    (z0, z1), (y0, y1), (x0, x1) = sample["bbox_zyx"]
    grids = {
        (c, fy, fx): [_grid(z0, z1, c), _grid(y0, y1, c, fy), _grid(x0, x1, c, fx)]
        for c in edges
        for fy in (0, 1)
        for fx in (0, 1)
    }
    ok = {key: np.ones([g.size for g in grid], dtype=bool) for key, grid in grids.items()}
    if not fills_box(sample):
        planes = slab_planes(region.labels, slab_voxels)
        for s, e in slabs(z1 - z0, planes):
            masks = region.mask(z0 + s, z0 + e)
            for k, plane in enumerate(masks):
                z = z0 + s + k
                # integral image: squares fully inside have sum c^2
                ii = np.zeros((plane.shape[0] + 1, plane.shape[1] + 1), dtype=np.int64)
                ii[1:, 1:] = plane.cumsum(0).cumsum(1)
                for (c, fy, fx), (gz, gy, gx) in grids.items():
                    iz = np.flatnonzero((gz <= z) & (z < gz + c))
                    if iz.size == 0 or gy.size == 0 or gx.size == 0:
                        continue
                    ya, xa = gy[:, None], gx[None, :]
                    area = ii[ya + c, xa + c] - ii[ya, xa + c] - ii[ya + c, xa] + ii[ya, xa]
                    ok[(c, fy, fx)][iz] &= area == c * c
    out: dict[int, np.ndarray] = {}
    for (c, fy, fx), (gz, gy, gx) in grids.items():
        iz, iy, ix = np.nonzero(ok[(c, fy, fx)])
        found = np.stack([gz[iz], gy[iy], gx[ix]], axis=1)
        if c not in out or len(found) > len(out[c]):
            out[c] = found
    return out


def _spread(items: Sequence, n: int) -> list[tuple[int, int, int]]:
    """At most ``n`` of the corners ``items``, evenly spread over the sequence."""
    if len(items) <= n:
        picks = np.arange(len(items))
    else:
        picks = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [tuple(int(v) for v in items[i]) for i in picks]  # type: ignore[misc]


def choose_edges(
    region: Region, sample: Mapping[str, Any], cube_vox: int, n_cubes: int, n_sizes: int,
    slab_voxels: int | None,
) -> dict[int, list[tuple[int, int, int]]]:  # fmt: skip
    """Cube edges (largest first) and the chosen cubes of each (module docstring).

    Candidate edges are tried largest first, a few per pass over the sample mask, and the
    search stops at the first that holds enough cubes, so the small edges (whose cubes are
    many) are only placed for a sample too small for the large ones.
    """
    box = [b - a for a, b in sample["bbox_zyx"]]
    top = min(cube_vox, *box)
    candidates = sorted(
        {top, *(int(top * 0.85**k) for k in range(1, 40) if top * 0.85**k >= MIN_EDGE)},
        reverse=True,
    )
    want = min(4, n_cubes)
    found: dict[int, np.ndarray] = {}
    for i in range(0, len(candidates), _EDGES_PER_PASS):
        found.update(placements(region, sample, candidates[i : i + _EDGES_PER_PASS], slab_voxels))
        if any(len(found[c]) >= want for c in found):
            break
    good = [c for c in candidates if c in found and len(found[c]) >= want]
    good = good or [c for c in candidates if c in found and len(found[c])]
    if not good:
        return {}
    largest = good[0]
    chosen = {largest: _spread(found[largest], n_cubes)}
    for c in (largest // 2**k for k in range(1, n_sizes)):
        if c < MIN_EDGE:
            break
        subs = [q for p in chosen[largest] for q in _sub_cubes(p, largest, c)]
        chosen[c] = _spread(subs, n_cubes)
    return chosen


def _sub_cubes(corner: tuple[int, int, int], edge: int, sub: int) -> list[tuple[int, int, int]]:
    """Corners of the ``sub``-cubes tiling an ``edge``-cube at ``corner`` (centred, z-major)."""
    starts = [_grid(a, a + edge, sub) for a in corner]
    return [(int(z), int(y), int(x)) for z in starts[0] for y in starts[1] for x in starts[2]]


def _summary(results: list[TortuosityResult]) -> dict[str, Any]:
    """Record entry (and solver statistics) from the cube results of one phase and axis."""
    finite = [r for r in results if r.percolates and math.isfinite(r.tau)]
    eps = float(np.mean([r.eps for r in results]))
    eps_perc = float(np.mean([r.eps_percolating for r in results]))
    if finite:
        taus = np.array([r.tau for r in finite])
        tau = float(taus.mean())
        tau_std = float(taus.std(ddof=1)) if taus.size > 1 else None
    else:
        tau, tau_std = math.inf, None
    if not finite:
        flag = "non-percolating"
    elif len(finite) < len(results):
        flag = "partly-percolating"
    elif not all(r.converged for r in finite):
        flag = "not-converged"
    else:
        flag = ""
    return {
        "tau": tau,
        "eps": eps,
        "eps_percolating": eps_perc,
        "d_rel": eps / tau if finite else 0.0,
        "macmullin": tau / eps if finite and eps > 0 else math.inf,
        "percolates": bool(finite),
        "flag": flag,
        "method": "subvolumes",
        "tau_std": tau_std,
        "n_subvolumes": len(results),
    }


def _solver(results: list[TortuosityResult]) -> dict[str, Any]:
    return {
        "iterations": max((r.iterations for r in results), default=0),
        "seconds": float(sum(r.seconds for r in results)),
        "converged": all(r.converged for r in results),
        "backend": results[0].backend if results else "",
        "n_solves": len(results),
    }


def tortuosity_in_sample(
    labels: Any,
    phases: Mapping[str, int],
    axes: Sequence[str],
    region: Region,
    sample: Mapping[str, Any],
    max_voxels: int,
    cube_vox: int,
    n_cubes: int,
    n_sizes: int,
    slab_voxels: int | None = None,
    backend: str = "cpu",
) -> tuple[dict, dict | None, dict]:
    """Tortuosity of each phase along each axis inside the sample.

    Returns ``(tortuosity, tortuosity_rev or None, solver)``: the record entries
    ``tortuosity[phase][axis]``, ``tortuosity_rev[phase][axis]`` (sub-volumes only) and
    ``solver["tortuosity"][phase][axis]`` = {iterations, seconds, converged, backend,
    n_solves}.
    """
    tort: dict[str, dict] = {name: {} for name in phases}
    stats: dict[str, dict] = {name: {} for name in phases}
    if fills_box(sample) and sample["voxels"] <= max_voxels:
        (z0, z1), (y0, y1), (x0, x1) = sample["bbox_zyx"]
        box = np.asarray(labels[z0:z1, y0:y1, x0:x1])
        jobs = [(name, axis) for name in phases for axis in axes]
        for name, axis in track(jobs, "tortuosity"):
            r = tortuosity(box == phases[name], axis, backend=backend)
            entry = r.science()
            entry.update(method="whole", tau_std=None, n_subvolumes=None)
            tort[name][axis] = entry
            stats[name][axis] = _solver([r])
        return tort, None, {"tortuosity": stats}
    chosen = choose_edges(region, sample, cube_vox, n_cubes, n_sizes, slab_voxels)
    if not chosen:
        raise_no_cube(sample)
    results: dict[tuple[int, str, str], list[TortuosityResult]] = {}
    largest = max(chosen)
    for p in track(chosen[largest], "tortuosity cubes"):
        z, y, x = p
        cube = np.asarray(labels[z : z + largest, y : y + largest, x : x + largest])
        for c, corners in sorted(chosen.items(), reverse=True):
            for a, b, d in (q for q in corners if _within(q, p, largest)):
                sub = cube[a - z : a - z + c, b - y : b - y + c, d - x : d - x + c]
                for name, code in phases.items():
                    mask = sub == code
                    for axis in axes:
                        res = tortuosity(mask, axis, backend=backend)
                        results.setdefault((c, name, axis), []).append(res)
    rev: dict[str, dict] = {name: {} for name in phases}
    for name in phases:
        for axis in axes:
            tort[name][axis] = _summary(results[(largest, name, axis)])
            stats[name][axis] = _solver([r for c in chosen for r in results[(c, name, axis)]])
            rows = []
            for c in sorted(chosen):
                s = _summary(results[(c, name, axis)])
                n = sum(1 for r in results[(c, name, axis)] if math.isfinite(r.tau))
                rows.append((c, s["tau"] if n else None, s["tau_std"], n))
            rev[name][axis] = {
                "cube_vox": [r[0] for r in rows],
                "tau_mean": [r[1] for r in rows],
                "tau_std": [r[2] for r in rows],
                "n": [r[3] for r in rows],
            }
    return tort, rev, {"tortuosity": stats}


def _within(corner: tuple[int, int, int], parent: tuple[int, int, int], edge: int) -> bool:
    """True when ``corner`` lies in the ``edge``-cube at ``parent``."""
    return all(p <= c < p + edge for c, p in zip(corner, parent, strict=True))


def raise_no_cube(sample: Mapping[str, Any]) -> None:
    """ConfigError: no cube of at least MIN_EDGE voxels fits inside the sample."""
    from tomosnake.errors import ConfigError

    raise ConfigError(
        f"tortuosity: no cube of {MIN_EDGE} voxels or more fits inside the sample region "
        f"({sample['mode']}, bounding box {sample['bbox_zyx']}); check morph.sample"
    )
