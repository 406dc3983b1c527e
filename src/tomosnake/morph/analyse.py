"""One call from a labels volume to a morphology record (dict / JSON) and a summary row.

Schema of the record (``tomosnake.morphology/2``; JSON schema in
``morphology.schema.json`` beside this module). Every metric is computed inside the
sample region (``sample``). Lengths in µm, areas in µm², volumes in µm³, specific areas
in µm⁻¹ (per µm³ of sample); fractions, tau and MacMullin numbers are dimensionless.
Phase pairs are keyed ``"a|b"`` (names sorted).

- ``schema`` (str), ``source`` (str|null), ``shape`` [nz, ny, nx] (voxels, (z, y, x)),
  ``units`` {``length``: ``"um"``, or ``"voxel"`` when no voxel size is known: then
  only dimensionless metrics run and ``voxel_size_um``/``volume_um3`` are null},
  ``voxel_size_um``, ``volume_um3`` (of the sample region), ``phases`` {name: label
  code}, ``metrics`` [names], ``settings`` (the resolved ``morph`` settings).
- ``sample``: {mode (auto|none|box|cylinder), voxels, fraction_of_volume, bbox_zyx
  [[z0, z1], [y0, y1], [x0, x1]] (half-open voxel ranges), params}; see
  :mod:`tomosnake.morph.sample` (:func:`~tomosnake.morph.sample.sample_mask` rebuilds
  the mask of any slab from it).
- ``fractions``: ``fractions`` {phase: volume fraction of the sample}, ``voxels``
  {phase: count}, ``total_voxels`` (of the sample), ``unassigned_fraction``.
- ``surface``: ``area_um2`` {phase}, ``specific_surface_um-1`` {phase},
  ``interface_area_um2`` {pair}, ``specific_interface_um-1`` {pair}, ``closed`` (bool:
  the sample's outer boundary counted), ``contact_area_nmc_cbd_um2`` (only with phases
  nmc and cbd). Marching cubes on the ball-smoothed mask; ``A_ij = (S_i + S_j - S_k) / 2``.
- ``connectivity`` {phase: {voxels, n_components, largest_component_fraction,
  n_isolated, isolated_fraction, axes: {axis: {percolating_fraction,
  dead_end_fraction, percolates}}}} (6-connected components inside the sample;
  faces are the sample's; fractions of the phase).
- ``tortuosity`` {phase: {axis: {tau, eps, eps_percolating, d_rel, macmullin,
  percolates, flag, method, tau_std, n_subvolumes}}}: taufactor's tau;
  ``d_rel = D_eff / D = eps / tau``, ``macmullin = tau / eps``; ``method`` ``"whole"``
  (the sample box solved at once; ``tau_std``/``n_subvolumes`` null) or
  ``"subvolumes"`` (mean and standard deviation over cubes inside the sample, see
  :mod:`tomosnake.morph.rev`); ``flag`` "", "non-percolating", "partly-percolating"
  (some cubes) or "not-converged". A non-percolating phase has ``percolates = false``
  and ``tau``/``macmullin`` ``inf`` in Python, ``null`` in JSON.
- ``tortuosity_rev`` {phase: {axis: {cube_vox, tau_mean, tau_std, n}}} (sub-volumes
  only): tau against cube edge, the representative-volume-element check.
- ``solver``: {``tortuosity``: {phase: {axis: {iterations, seconds, converged,
  backend, n_solves}}}}: how the numbers were obtained, apart from the numbers.
- ``sizes``: ``thickness`` {phase: distribution} (local thickness diameters,
  volume-weighted) and ``particles`` {phase: {n_particles, diameters_um, ...}}
  (watershed-separated particles of ``nmc``, equivalent diameters, number-weighted;
  ``n_truncated``: particles longer than the block halo, cut there);
  a distribution is {mean_um, d10_um, d50_um, d90_um, bin_edges_um, fraction}.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tomosnake.errors import ConfigError
from tomosnake.morph import sample as sample_mod
from tomosnake.morph import slabpass
from tomosnake.morph.blocks import check_labels, slab_planes
from tomosnake.morph.connectivity import Connectivity
from tomosnake.morph.fractions import PhaseCounts
from tomosnake.morph.rev import tortuosity_in_sample
from tomosnake.morph.settings import (
    METRICS,
    NEEDS_UNITS,
    MorphSettings,
    metrics_needing_units,
    normalise_metrics,
    resolve,
)
from tomosnake.morph.sizes import size_distributions
from tomosnake.morph.surface import SurfaceAreas

SCHEMA_ID = "tomosnake.morphology/2"
SCHEMA_PATH = Path(__file__).with_name("morphology.schema.json")
PARTICLE_PHASES = ("nmc",)
_UNIT_OF = {"surface": "areas in µm²", "sizes": "diameters in µm"}

__all__ = [
    "METRICS",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "analyse",
    "analyse_store",
    "metrics_needing_units",
    "normalise_metrics",
    "summary_row",
    "write_morphology_json",
]


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


def _check_units(metrics: Sequence[str], voxel_size_um: float | None, source: str) -> None:
    if voxel_size_um is not None:
        if not (
            isinstance(voxel_size_um, int | float)
            and not isinstance(voxel_size_um, bool)
            and math.isfinite(voxel_size_um)
            and voxel_size_um > 0
        ):
            raise ConfigError(f"voxel_size_um {voxel_size_um!r}: expected a positive number (µm)")
        return
    need = [m for m in metrics if m in NEEDS_UNITS]
    if need:
        what = ", ".join(f"{m} ({_UNIT_OF[m]})" for m in need)
        raise ConfigError(
            f"{source}: metric {what} needs a voxel size, and none is known: set "
            "voxel_size_um in the scan sheet (or drop the metric; fractions, connectivity "
            "and tortuosity need none)"
        )


def analyse(
    labels: Any,
    phases: Mapping[str, int],
    voxel_size_um: float | None = None,
    metrics: Sequence[str] | None = None,
    axes: Sequence[str] | None = None,
    tort_phases: Sequence[str] | None = None,
    tort_backend: str = "cpu",
    settings: Mapping[str, Any] | MorphSettings | None = None,
) -> dict[str, Any]:
    """Morphology record of a labels volume inside its sample region (module docstring).

    ``labels``: integer (z, y, x) array (numpy or zarr; read slab by slab, never whole).
    ``phases``: name -> label code. ``voxel_size_um``: isotropic voxel edge (µm), or
    None for voxel units (dimensionless metrics only). ``settings``: the ``morph``
    section (:mod:`tomosnake.morph.settings`); ``metrics``, ``axes`` (transport axes) and
    ``tort_phases`` (default: every phase), when given, override it.
    """
    check_labels(labels)
    phases = _check_phases(phases, np.dtype(labels.dtype))
    base = settings.as_dict() if isinstance(settings, MorphSettings) else settings
    cfg = resolve(base, metrics=metrics, axes=axes, tortuosity_phases=tort_phases)
    vs = voxel_size_um if voxel_size_um is not None else cfg.voxel_size_um
    _check_units(cfg.metrics, vs, "labels")
    tphases = list(phases) if cfg.tortuosity_phases is None else list(cfg.tortuosity_phases)
    for name in tphases:
        if name not in phases:
            raise ConfigError(f"tortuosity phase {name!r}: not one of {', '.join(phases)}")
    spec = sample_mod.resolve(labels, phases, cfg.sample)
    region = sample_mod.Region(labels, spec)
    slab = cfg.slab_voxels
    pass_metrics: dict[str, Any] = {}
    if "fractions" in cfg.metrics:
        pass_metrics["fractions"] = PhaseCounts(phases)
    if "surface" in cfg.metrics:
        pass_metrics["surface"] = SurfaceAreas(phases)
    if "connectivity" in cfg.metrics:
        pass_metrics["connectivity"] = Connectivity(phases, cfg.axes)
    later = any(m in cfg.metrics for m in ("tortuosity", "sizes"))
    kept = slabpass.run(labels, region, list(pass_metrics.values()), slab, slab if later else 0)
    sample = region.record(slab_planes(labels, slab))
    if sample["fraction_of_volume"] == 1.0:
        region = sample_mod.Region(labels, {"mode": "none"})
    if kept is not None:  # small enough to hold: the later metrics read it from memory
        region = sample_mod.Region(kept, region.region)
        labels = kept
    result = _record(labels, phases, vs, cfg, sample)
    if "fractions" in pass_metrics:
        result["fractions"] = pass_metrics["fractions"].result()
    if "surface" in pass_metrics:
        surf = pass_metrics["surface"].result(float(vs))
        if "nmc" in phases and "cbd" in phases:
            surf["contact_area_nmc_cbd_um2"] = surf["interface_area_um2"]["cbd|nmc"]
        result["surface"] = surf
    if "connectivity" in pass_metrics:
        result["connectivity"] = pass_metrics["connectivity"].result()
    if "tortuosity" in cfg.metrics:
        tort, rev, solver = tortuosity_in_sample(
            labels,
            {n: phases[n] for n in tphases},
            cfg.axes,
            region,
            sample,
            cfg.tortuosity_max_voxels,
            cfg.tortuosity_cube_vox,
            cfg.tortuosity_cubes,
            cfg.tortuosity_rev_sizes,
            slab,
            tort_backend,
        )
        result["tortuosity"] = tort
        if rev is not None:
            result["tortuosity_rev"] = rev
        result["solver"] = solver
    if "sizes" in cfg.metrics:
        result["sizes"] = size_distributions(
            labels, float(vs), phases, PARTICLE_PHASES, region, slab, cfg.particle_halo_factor
        )
    return result


def _record(
    labels: Any, phases: dict[str, int], vs: float | None, cfg: MorphSettings, sample: dict
) -> dict[str, Any]:
    """The record's header (everything but the metrics)."""
    return {
        "schema": SCHEMA_ID,
        "source": None,
        "shape": [int(n) for n in labels.shape],
        "units": {"length": "voxel" if vs is None else "um"},
        "voxel_size_um": None if vs is None else float(vs),
        "volume_um3": None if vs is None else sample["voxels"] * float(vs) ** 3,
        "phases": phases,
        "metrics": list(cfg.metrics),
        "settings": cfg.as_dict(),
        "sample": sample,
    }


def analyse_store(
    labels_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    *,
    voxel_size_um: float | None = None,
    phases: Mapping[str, int] | None = None,
    threads: int | None = None,
    metrics: Sequence[str] | None = None,
    axes: Sequence[str] | None = None,
    tort_phases: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Analyse a labels store (zarr with attrs ``phases``, ``voxel_size_um``; or TIFF).

    ``settings``: the scan's ``morph`` section (keys and defaults in
    :data:`tomosnake.morph.settings.DEFAULTS`). The voxel size comes from
    ``voxel_size_um``, else ``settings["voxel_size_um"]``, else the store's attribute;
    if none is known the record is in voxel units and metrics in µm are refused
    (ConfigError naming them). ``threads``: the job's thread count (every pool).
    ``metrics``, ``axes``, ``tort_phases``, ``phases`` override the settings / store.
    Writes the record to ``json_path`` (atomically) unless it is None, and returns it.
    """
    from tomosnake.io import open_volume, volume_attrs
    from tomosnake.threads import use_threads

    cfg = resolve(settings, metrics=metrics, axes=axes, tortuosity_phases=tort_phases)
    vol = open_volume(labels_path)
    attrs = volume_attrs(vol)
    phases = phases if phases is not None else attrs.get("phases")
    if not phases:
        raise ConfigError(f"{labels_path}: no 'phases' attribute; pass phases (name=label,...)")
    vs = voxel_size_um if voxel_size_um is not None else cfg.voxel_size_um
    if vs is None:
        vs = attrs.get("voxel_size_um")
    check_labels(vol, str(labels_path))
    _check_units(cfg.metrics, vs, str(labels_path))
    ctx = use_threads(threads) if threads else contextlib.nullcontext()
    with ctx:
        result = analyse(vol, phases, None if vs is None else float(vs), settings=cfg)
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

    ``sample_fraction`` (sample voxels / volume voxels), ``vf_{phase}``,
    ``ssa_{phase}_um-1``, ``sia_{a}_{b}_um-1`` (specific interface),
    ``contact_nmc_cbd_um2``, ``perc_{phase}_{axis}`` (percolating fraction),
    ``tau_{phase}_{axis}`` (inf if not percolating; NaN when the record says null),
    ``tau_std_{phase}_{axis}`` (sub-volumes only), ``deff_{phase}_{axis}`` (D_eff / D),
    ``nm_{phase}_{axis}`` (MacMullin), ``lt_d50_{phase}_um`` (local thickness median),
    ``psd_d50_{phase}_um`` and ``n_particles_{phase}``.
    """
    row: dict[str, float] = {}

    def num(v: Any) -> float:
        return math.nan if v is None else float(v)

    if "sample" in result:
        row["sample_fraction"] = float(result["sample"]["fraction_of_volume"])
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
            if t.get("method") == "subvolumes":
                row[f"tau_std_{name}_{axis}"] = num(t.get("tau_std"))
            row[f"deff_{name}_{axis}"] = float(t["d_rel"])
            row[f"nm_{name}_{axis}"] = num(t["macmullin"]) if percolates else math.inf
    sizes = result.get("sizes", {})
    for name, d in sizes.get("thickness", {}).items():
        row[f"lt_d50_{name}_um"] = num(d["d50_um"])
    for name, p in sizes.get("particles", {}).items():
        row[f"psd_d50_{name}_um"] = num(p["d50_um"])
        row[f"n_particles_{name}"] = float(p["n_particles"])
    return row
