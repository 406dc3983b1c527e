"""One call from a labels volume to a morphology record (dict / JSON) and a summary row.

Schema of the record (``tomosnake.morphology/1``; JSON schema in
``morphology.schema.json`` beside this module). Lengths in µm, areas in µm², volumes in
µm³, specific areas in µm⁻¹ (per µm³ of the whole sample box); fractions, tau and
MacMullin numbers are dimensionless. Phase pairs are keyed ``"a|b"`` (names sorted).

- ``schema`` (str), ``source`` (str|null), ``shape`` [nz, ny, nx] (voxels, (z, y, x)),
  ``voxel_size_um``, ``volume_um3``, ``phases`` {name: label code}, ``metrics`` [names].
- ``fractions``: ``fractions`` {phase: volume fraction}, ``voxels`` {phase: count},
  ``total_voxels``, ``unassigned_fraction`` (labels not in ``phases``).
- ``surface``: ``area_um2`` {phase}, ``specific_surface_um-1`` {phase},
  ``interface_area_um2`` {pair}, ``specific_interface_um-1`` {pair}, ``closed`` (bool:
  box faces counted), ``contact_area_nmc_cbd_um2`` (only with phases nmc and cbd).
  Marching cubes on the ball-smoothed mask; ``A_ij = (S_i + S_j - S_k) / 2``.
- ``connectivity`` {phase: {voxels, n_components, largest_component_fraction,
  n_isolated, isolated_fraction, axes: {axis: {percolating_fraction,
  dead_end_fraction, percolates}}}} (6-connected components; fractions of the phase).
- ``tortuosity`` {phase: {axis: {tau, eps, eps_percolating, d_rel, d_eff, macmullin,
  percolates, converged, iterations, seconds, backend, flag}}}: taufactor's tau;
  ``d_rel = D_eff / D = eps / tau``, ``macmullin = tau / eps``; a non-percolating phase
  has ``percolates = false``, ``flag = "non-percolating"`` and ``tau``/``macmullin``
  ``inf`` in Python, ``null`` in JSON.
- ``sizes``: ``thickness`` {phase: distribution} (local thickness diameters,
  volume-weighted) and ``particles`` {phase: {n_particles, diameters_um, ...}}
  (watershed-separated particles of ``nmc``, equivalent diameters, number-weighted);
  a distribution is {mean_um, d10_um, d50_um, d90_um, bin_edges_um, fraction}.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError
from tomosnake.morph.blocks import check_labels
from tomosnake.morph.connectivity import connectivity
from tomosnake.morph.fractions import volume_fractions
from tomosnake.morph.sizes import particle_sizes, thickness_distribution
from tomosnake.morph.surface import surface_areas
from tomosnake.morph.tortuosity import AXES, tortuosity
from tomosnake.progress import track

SCHEMA_ID = "tomosnake.morphology/1"
SCHEMA_PATH = Path(__file__).with_name("morphology.schema.json")
METRICS = ("fractions", "surface", "connectivity", "tortuosity", "sizes")
ALIASES = {
    "ssa": "surface",
    "surfaces": "surface",
    "vf": "fractions",
    "tau": "tortuosity",
    "psd": "sizes",
    "fraction": "fractions",
}
PARTICLE_PHASES = ("nmc",)


def normalise_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Canonical metric names (aliases ssa, vf, tau, psd accepted); ConfigError if unknown."""
    out = []
    for m in metrics:
        name = ALIASES.get(m.strip().lower(), m.strip().lower())
        if name not in METRICS:
            raise ConfigError(
                f"metric {m!r}: expected some of {', '.join(METRICS)} (or ssa, vf, tau, psd)"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _check_phases(phases: Mapping[str, int], dtype: np.dtype) -> dict[str, int]:
    if not phases:
        raise ConfigError("phases: need at least one name=label pair")
    info = np.iinfo(dtype)
    out = {}
    for name, code in phases.items():
        if not isinstance(code, int | np.integer) or not info.min <= int(code) <= info.max:
            raise ConfigError(f"phase {name!r}: label {code!r} is not an integer {dtype} value")
        out[str(name)] = int(code)
    if len(set(out.values())) != len(out):
        raise ConfigError(f"phases {out}: two phases share a label code")
    return out


def analyse(
    labels: Any,
    phases: Mapping[str, int],
    voxel_size_um: float,
    metrics: Sequence[str] = METRICS,
    axes: Sequence[str] = ("z", "y", "x"),
    tort_phases: Sequence[str] | None = None,
    tort_backend: str = "cpu",
) -> dict[str, Any]:
    """Morphology record of a labels volume (schema in this module's docstring).

    ``labels``: integer (z, y, x) array (numpy, or a zarr array: fractions, surfaces and
    connectivity then run chunk by chunk; tortuosity and sizes load it). ``phases``:
    name -> label code. ``voxel_size_um``: isotropic voxel edge (µm). ``axes``: transport
    axes for connectivity and tortuosity. ``tort_phases``: phases to solve tortuosity for
    (default: every phase).
    """
    check_labels(labels)
    phases = _check_phases(phases, np.dtype(labels.dtype))
    metrics = normalise_metrics(metrics)
    if not (
        isinstance(voxel_size_um, int | float)
        and math.isfinite(voxel_size_um)
        and voxel_size_um > 0
    ):
        raise ConfigError(f"voxel_size_um {voxel_size_um!r}: expected a positive number (µm)")
    for axis in axes:
        if axis not in AXES:
            raise ConfigError(f"axis {axis!r}: expected z, y or x")
    tort_phases = list(phases) if tort_phases is None else list(tort_phases)
    for name in tort_phases:
        if name not in phases:
            raise ConfigError(f"tortuosity phase {name!r}: not one of {', '.join(phases)}")
    vs = float(voxel_size_um)
    result: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "source": None,
        "shape": [int(n) for n in labels.shape],
        "voxel_size_um": vs,
        "volume_um3": float(np.prod(labels.shape)) * vs**3,
        "phases": phases,
        "metrics": list(metrics),
    }
    if "fractions" in metrics:
        result["fractions"] = volume_fractions(labels, phases)
    if "surface" in metrics:
        surf = surface_areas(labels, phases, vs)
        if "nmc" in phases and "cbd" in phases:
            surf["contact_area_nmc_cbd_um2"] = surf["interface_area_um2"]["cbd|nmc"]
        result["surface"] = surf
    if "connectivity" in metrics:
        result["connectivity"] = connectivity(labels, phases, axes)
    dense = None
    if "tortuosity" in metrics or "sizes" in metrics:
        dense = np.asarray(labels[...])
    if "tortuosity" in metrics:
        tort: dict[str, dict] = {name: {} for name in tort_phases}
        jobs = [(name, axis) for name in tort_phases for axis in axes]
        for name, axis in track(jobs, "tortuosity"):
            res = tortuosity(dense == phases[name], axis, backend=tort_backend)
            tort[name][axis] = res.to_dict()
        result["tortuosity"] = tort
    if "sizes" in metrics:
        thick = {
            name: thickness_distribution(dense == code, vs)
            for name, code in track(list(phases.items()), "local thickness")
        }
        particles = {
            name: particle_sizes(dense == phases[name], vs)
            for name in PARTICLE_PHASES
            if name in phases
        }
        result["sizes"] = {"thickness": thick, "particles": particles}
    return result


def analyse_store(
    labels_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str] | None,
    metrics: Sequence[str] = METRICS,
    voxel_size_um: float | None = None,
    phases: Mapping[str, int] | None = None,
    axes: Sequence[str] = ("z", "y", "x"),
    tort_phases: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Analyse a labels store (zarr with attrs ``phases``, ``voxel_size_um``; or TIFF).

    Arguments override the store's attributes. Writes the record to ``json_path``
    (atomically) unless it is None, and returns it.
    """
    from tomosnake.io import open_volume, volume_attrs

    vol = open_volume(labels_path)
    attrs = volume_attrs(vol)
    phases = phases if phases is not None else attrs.get("phases")
    if not phases:
        raise ConfigError(f"{labels_path}: no 'phases' attribute; pass phases (name=label,...)")
    if voxel_size_um is None:
        voxel_size_um = attrs.get("voxel_size_um")
    if voxel_size_um is None:
        raise ConfigError(f"{labels_path}: no 'voxel_size_um' attribute; pass a voxel size")
    check_labels(vol, str(labels_path))
    result = analyse(vol, phases, float(voxel_size_um), metrics, axes, tort_phases)
    result["source"] = str(labels_path)
    if json_path is not None:
        write_morphology_json(result, json_path)
    return result


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_morphology_json(result: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a morphology record as JSON, atomically (inf/NaN become null)."""
    from tomosnake.io import atomic_output

    path = Path(path)
    text = json.dumps(_json_safe(result), indent=1, allow_nan=False)
    with atomic_output(path) as tmp:
        Path(tmp).write_text(text + "\n")
    return path


def summary_row(result: Mapping[str, Any]) -> dict[str, float]:
    """Flat columns of a record for ``results/summary.csv`` (units in the names).

    ``vf_{phase}``, ``ssa_{phase}_um-1``, ``sia_{a}_{b}_um-1`` (specific interface),
    ``contact_nmc_cbd_um2``, ``perc_{phase}_{axis}`` (percolating fraction),
    ``tau_{phase}_{axis}`` (inf if not percolating; NaN when the record says null),
    ``deff_{phase}_{axis}`` (D_eff / D), ``nm_{phase}_{axis}`` (MacMullin),
    ``lt_d50_{phase}_um`` (local thickness median), ``psd_d50_{phase}_um`` and
    ``n_particles_{phase}``.
    """
    row: dict[str, float] = {}

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    for name, vf in result.get("fractions", {}).get("fractions", {}).items():
        row[f"vf_{name}"] = float(vf)
    surf = result.get("surface", {})
    for name, v in surf.get("specific_surface_um-1", {}).items():
        row[f"ssa_{name}_um-1"] = float(v)
    for pair, v in surf.get("specific_interface_um-1", {}).items():
        row[f"sia_{pair.replace('|', '_')}_um-1"] = float(v)
    if "contact_area_nmc_cbd_um2" in surf:
        row["contact_nmc_cbd_um2"] = float(surf["contact_area_nmc_cbd_um2"])
    for name, stats in result.get("connectivity", {}).items():
        for axis, a in stats["axes"].items():
            row[f"perc_{name}_{axis}"] = float(a["percolating_fraction"])
    for name, per_axis in result.get("tortuosity", {}).items():
        for axis, t in per_axis.items():
            percolates = bool(t["percolates"])
            row[f"tau_{name}_{axis}"] = num(t["tau"]) if percolates else math.inf
            row[f"deff_{name}_{axis}"] = float(t["d_rel"])
            row[f"nm_{name}_{axis}"] = num(t["macmullin"]) if percolates else math.inf
    sizes = result.get("sizes", {})
    for name, d in sizes.get("thickness", {}).items():
        row[f"lt_d50_{name}_um"] = num(d["d50_um"])
    for name, p in sizes.get("particles", {}).items():
        row[f"psd_d50_{name}_um"] = num(p["d50_um"])
        row[f"n_particles_{name}"] = float(p["n_particles"])
    return row
