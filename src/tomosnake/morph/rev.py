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

The representative-volume-element check: the same is repeated at
``tortuosity_rev_sizes`` edges (halving, not below 8 voxels) and reported per phase
and axis as ``tortuosity_rev`` {cube_vox, tau_mean, tau_std, n} (ascending edge;
``n`` counts the cubes with a finite tau). A tau that still drifts between the two
largest edges says the cubes are smaller than the REV.
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


def _grid(lo: int, hi: int, edge: int, fewer: int = 0) -> np.ndarray:
    """Starts of ``n - fewer`` ``edge``-cubes tiling [lo, hi) (n: as many as fit), centred."""
    n = max((hi - lo) // edge - fewer, 0)
    start = lo + ((hi - lo) - n * edge) // 2
    return start + edge * np.arange(n)


def placements(
    region: Region, sample: Mapping[str, Any], edges: Sequence[int], slab_voxels: int | None
) -> dict[int, list[tuple[int, int, int]]]:
    """Corners (z, y, x) of the grid cubes of each edge that lie entirely inside the sample.

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
    out: dict[int, list[tuple[int, int, int]]] = {}
    for (c, fy, fx), (gz, gy, gx) in grids.items():
        iz, iy, ix = np.nonzero(ok[(c, fy, fx)])
        found = [(int(gz[a]), int(gy[b]), int(gx[d])) for a, b, d in zip(iz, iy, ix, strict=True)]
        if len(found) > len(out.get(c, [])):
            out[c] = found
        out.setdefault(c, found)
    return out


def _spread(items: list, n: int) -> list:
    """At most ``n`` of ``items``, evenly spread over the list."""
    if len(items) <= n:
        return list(items)
    picks = np.unique(np.linspace(0, len(items) - 1, n).round().astype(int))
    return [items[i] for i in picks]


def choose_edges(
    region: Region, sample: Mapping[str, Any], cube_vox: int, n_cubes: int, n_sizes: int,
    slab_voxels: int | None,
) -> dict[int, list[tuple[int, int, int]]]:  # fmt: skip
    """Cube edges (largest first) and the chosen cubes of each (module docstring)."""
    box = [b - a for a, b in sample["bbox_zyx"]]
    top = min(cube_vox, *box)
    candidates = sorted(
        {top, *(int(top * 0.85**k) for k in range(1, 40) if top * 0.85**k >= MIN_EDGE)},
        reverse=True,
    )
    found = placements(region, sample, candidates, slab_voxels)
    want = min(4, n_cubes)
    good = [c for c in candidates if len(found[c]) >= want] or [c for c in candidates if found[c]]
    if not good:
        return {}
    largest = good[0]
    edges = [largest // 2**k for k in range(n_sizes) if largest // 2**k >= MIN_EDGE]
    more = placements(region, sample, edges[1:], slab_voxels) if len(edges) > 1 else {}
    chosen = {largest: _spread(found[largest], n_cubes)}
    for c in edges[1:]:
        chosen[c] = _spread(more[c], n_cubes)
    return chosen


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
    jobs = [(c, corner) for c, corners in chosen.items() for corner in corners]
    for c, (z, y, x) in track(jobs, "tortuosity cubes"):
        cube = np.asarray(labels[z : z + c, y : y + c, x : x + c])
        for name, code in phases.items():
            mask = cube == code
            for axis in axes:
                res = tortuosity(mask, axis, backend=backend)
                results.setdefault((c, name, axis), []).append(res)
    largest = max(chosen)
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


def raise_no_cube(sample: Mapping[str, Any]) -> None:
    """ConfigError: no cube of at least MIN_EDGE voxels fits inside the sample."""
    from tomosnake.errors import ConfigError

    raise ConfigError(
        f"tortuosity: no cube of {MIN_EDGE} voxels or more fits inside the sample region "
        f"({sample['mode']}, bounding box {sample['bbox_zyx']}); check morph.sample"
    )
