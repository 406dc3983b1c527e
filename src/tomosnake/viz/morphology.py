"""Reading ``morphology.json`` (schemas ``tomosnake.morphology/2`` and ``/1``) for the report.

The record is written by :mod:`tomosnake.morph` (its docstring and
``morphology.schema.json`` define it). Lengths are in µm, or in voxels when
``units.length`` is ``"voxel"`` (schema 2, no voxel size known): every length, area and
specific area found here carries its unit, parsed from the key suffix (``_um2``,
``_um-1``, ``_voxel``...). Tortuosity solver statistics (iterations, seconds) are read
from ``solver.tortuosity`` (schema 2) or from the tortuosity entries (schema 1).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import InputError

#: morphology schemas this module reads
SCHEMAS = ("tomosnake.morphology/1", "tomosnake.morphology/2")
#: transport axes in display order
AXES = ("z", "y", "x")
#: key suffix -> printed unit
UNITS = {
    "um": "µm",
    "um2": "µm²",
    "um3": "µm³",
    "um-1": "µm⁻¹",
    "voxel": "voxel",
    "voxel2": "voxel²",
    "voxel3": "voxel³",
    "voxel-1": "voxel⁻¹",
    "px": "px",
}
SOLVER_KEYS = ("iterations", "seconds", "converged", "backend")


def is_number(value: Any) -> bool:
    """True for finite real numbers (bools excluded)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def read_json(path: str | os.PathLike[str], what: str = "JSON record") -> dict[str, Any]:
    """A JSON object from ``path``; :class:`InputError` naming the file if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: {what} must be a JSON object, got {type(data).__name__}")
    return data


def read_morphology(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A morphology record; InputError unless its ``schema`` is one of :data:`SCHEMAS`."""
    rec = read_json(path, "morphology record")
    if rec.get("schema") not in SCHEMAS:
        raise InputError(
            f"{path}: schema {rec.get('schema')!r} is not a morphology record "
            f"({' or '.join(SCHEMAS)})"
        )
    return rec


def _with_unit(node: Mapping[str, Any], stem: str) -> tuple[Any, str]:
    """``node[stem_UNIT]`` and its printed unit, for the first key ``stem_<unit>``."""
    for key, value in node.items():
        if key.startswith(stem + "_") and key[len(stem) + 1 :] in UNITS:
            return value, UNITS[key[len(stem) + 1 :]]
    return None, ""


def length_unit(rec: Mapping[str, Any]) -> str:
    """``µm``, or ``voxel`` when the record has no voxel size (schema 2 ``units.length``)."""
    return "voxel" if (rec.get("units") or {}).get("length") == "voxel" else "µm"


def phases(rec: Mapping[str, Any]) -> list[str]:
    """Phase names ordered by label code."""
    return [str(k) for k, _ in sorted((rec.get("phases") or {}).items(), key=lambda kv: kv[1])]


def volume_fractions(rec: Mapping[str, Any]) -> dict[str, float]:
    """Phase -> volume fraction (0..1) inside the sample region."""
    vf = (rec.get("fractions") or {}).get("fractions") or {}
    return {str(k): float(v) for k, v in vf.items() if is_number(v)}


def specific_surface(rec: Mapping[str, Any]) -> tuple[dict[str, float], str]:
    """Phase -> surface area per sample volume, and its unit (``µm⁻¹``)."""
    value, unit = _with_unit(rec.get("surface") or {}, "specific_surface")
    return {str(k): float(v) for k, v in (value or {}).items() if is_number(v)}, unit


def interfaces(rec: Mapping[str, Any]) -> dict[str, tuple[dict[tuple[str, str], float], str]]:
    """``{"area": ({(a, b): value}, unit), "specific": (...)}`` of the phase-pair interfaces."""
    surf = rec.get("surface") or {}
    out = {}
    for name, stem in (("area", "interface_area"), ("specific", "specific_interface")):
        value, unit = _with_unit(surf, stem)
        pairs = {
            tuple(k.split("|", 1)): float(v)
            for k, v in (value or {}).items()
            if "|" in k and is_number(v)
        }
        out[name] = (pairs, unit)
    return out


def percolating_fractions(rec: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Phase -> {axis: fraction of the phase connected to both faces normal to the axis}."""
    out: dict[str, dict[str, float]] = {}
    for phase, stats in (rec.get("connectivity") or {}).items():
        axes = (stats or {}).get("axes") or {}
        vals = {a: v.get("percolating_fraction") for a, v in axes.items()}
        out[str(phase)] = {a: float(v) for a, v in vals.items() if is_number(v)}
    return out


@dataclass(frozen=True)
class Tau:
    """One tortuosity result: tau (None = infinite), its spread, derived numbers, flags."""

    tau: float | None
    tau_std: float | None
    eps: float | None
    d_rel: float | None
    macmullin: float | None
    percolates: bool
    converged: bool | None
    flag: str
    method: str
    n_subvolumes: int | None

    @property
    def problem(self) -> str:
        """Why this value cannot enter fits and comparisons ("" if it can)."""
        if not self.percolates or self.tau is None:
            return "non-percolating"
        if self.converged is False or self.flag == "not-converged":
            return "solver did not converge"
        return self.flag

    @property
    def usable(self) -> bool:
        """True when the value is finite, percolating, converged and unflagged."""
        return not self.problem


def _num_or_none(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def tortuosities(rec: Mapping[str, Any]) -> dict[str, dict[str, Tau]]:
    """Phase -> axis -> :class:`Tau`."""
    solver = ((rec.get("solver") or {}).get("tortuosity")) or {}
    out: dict[str, dict[str, Tau]] = {}
    for phase, per_axis in (rec.get("tortuosity") or {}).items():
        if not isinstance(per_axis, Mapping):
            continue
        for axis, t in per_axis.items():
            if not isinstance(t, Mapping):
                continue
            stats = (solver.get(phase) or {}).get(axis) or t
            converged = stats.get("converged")
            out.setdefault(str(phase), {})[str(axis)] = Tau(
                tau=_num_or_none(t.get("tau")),
                tau_std=_num_or_none(t.get("tau_std")),
                eps=_num_or_none(t.get("eps")),
                d_rel=_num_or_none(t.get("d_rel")),
                macmullin=_num_or_none(t.get("macmullin")),
                percolates=bool(t.get("percolates", t.get("tau") is not None)),
                converged=converged if isinstance(converged, bool) else None,
                flag=str(t.get("flag") or ""),
                method=str(t.get("method") or "whole"),
                n_subvolumes=t.get("n_subvolumes") if is_number(t.get("n_subvolumes")) else None,
            )
    return out


def solver_stats(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows {phase, axis, iterations, seconds, converged, backend} of the tortuosity solver."""
    solver = ((rec.get("solver") or {}).get("tortuosity")) or {}
    source = solver or rec.get("tortuosity") or {}
    rows = []
    for phase, per_axis in source.items():
        for axis, stats in (per_axis or {}).items():
            if isinstance(stats, Mapping) and any(k in stats for k in SOLVER_KEYS):
                stat = {k: stats.get(k) for k in SOLVER_KEYS}
                rows.append({"phase": phase, "axis": axis, **stat})
    return rows


@dataclass(frozen=True)
class Distribution:
    """A size distribution: bin edges and fractions (sum 1), percentiles, unit."""

    kind: str  # "thickness" (volume-weighted local thickness) or "particles" (number-weighted)
    phase: str
    edges: np.ndarray
    fraction: np.ndarray
    d10: float | None
    d50: float | None
    d90: float | None
    mean: float | None
    unit: str
    n_particles: int | None

    @property
    def quantity(self) -> str:
        """What is measured, in words."""
        return "particle diameter" if self.kind == "particles" else "local thickness"

    @property
    def weighting(self) -> str:
        """``volume`` or ``number`` (how the fractions are weighted)."""
        return "number" if self.kind == "particles" else "volume"


def distributions(rec: Mapping[str, Any]) -> list[Distribution]:
    """Every size distribution of the record with at least one non-empty bin."""
    out = []
    for kind in ("thickness", "particles"):
        for phase, d in ((rec.get("sizes") or {}).get(kind) or {}).items():
            if not isinstance(d, Mapping):
                continue
            edges, unit = _with_unit(d, "bin_edges")
            frac = d.get("fraction")
            if not edges or not frac or len(edges) != len(frac) + 1:
                continue
            fraction = np.asarray(frac, float)
            if not np.isfinite(fraction).all() or fraction.sum() <= 0:
                continue
            n = d.get("n_particles")
            out.append(
                Distribution(
                    kind=kind,
                    phase=str(phase),
                    edges=np.asarray(edges, float),
                    fraction=fraction / fraction.sum(),
                    d10=_num_or_none(_with_unit(d, "d10")[0]),
                    d50=_num_or_none(_with_unit(d, "d50")[0]),
                    d90=_num_or_none(_with_unit(d, "d90")[0]),
                    mean=_num_or_none(_with_unit(d, "mean")[0]),
                    unit=unit,
                    n_particles=int(n) if is_number(n) else None,
                )
            )
    return out


def flatten_numbers(node: Any, prefix: str = "", max_list: int = 0) -> dict[str, Any]:
    """Leaves of nested dicts as {"a.b.c": value}: numbers, strings, bools, null.

    Lists of at most ``max_list`` scalars are kept as ``key[i]`` entries; longer lists
    are summarised as ``"list of N numbers"``.
    """
    out: dict[str, Any] = {}
    if isinstance(node, Mapping):
        for key, value in node.items():
            out.update(flatten_numbers(value, f"{prefix}.{key}" if prefix else str(key), max_list))
    elif isinstance(node, list):
        if len(node) <= max_list and not any(isinstance(v, Mapping | list) for v in node):
            out.update({f"{prefix}[{i}]": v for i, v in enumerate(node)})
        else:
            out[prefix] = f"list of {len(node)} values"
    else:
        out[prefix] = node
    return out


def fit_bruggeman(eps: np.ndarray, tau: np.ndarray) -> float | None:
    """Least-squares exponent beta of tau = eps**(-beta) (fit of log tau on log eps).

    The Bruggeman exponent of ``tomosnake.morph`` (D_eff / D = eps / tau = eps**alpha)
    is alpha = 1 + beta. Points need 0 < eps < 1 and tau > 0; None when none remain.
    """
    eps, tau = np.asarray(eps, float), np.asarray(tau, float)
    ok = (eps > 0) & (eps < 1) & (tau > 0) & np.isfinite(eps) & np.isfinite(tau)
    if not ok.any():
        return None
    le, lt = np.log(eps[ok]), np.log(tau[ok])
    return float(-(le @ lt) / (le @ le))
