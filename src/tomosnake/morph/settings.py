"""Settings of the morphology step (config section ``morph``), their defaults and checks.

The workflow passes the scan's ``morph`` section as a dict; every key is optional, and
:func:`resolve` fills in :data:`DEFAULTS` and checks types and ranges, raising
:class:`~tomosnake.errors.ConfigError` naming ``morph.KEY``. The defaults are those of
``workflow/schemas/config.schema.yaml`` (the one place they live).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tomosnake.config import defaults as config_defaults
from tomosnake.errors import ConfigError
from tomosnake.morph import sample as sample_mod
from tomosnake.morph.blocks import SLAB_VOXELS

METRICS = ("fractions", "surface", "connectivity", "tortuosity", "sizes")
ALIASES = {
    "ssa": "surface",
    "surfaces": "surface",
    "vf": "fractions",
    "tau": "tortuosity",
    "psd": "sizes",
    "fraction": "fractions",
}
#: metrics whose numbers carry a length unit (µm): they need a voxel size
NEEDS_UNITS = ("surface", "sizes")

#: every key of the ``morph`` section and its default (from the config schema), plus the
#: library-only ``voxel_size_um`` (the workflow takes it from the scan sheet)
DEFAULTS: dict[str, Any] = {**config_defaults("morph"), "voxel_size_um": None}


def normalise_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    """Canonical metric names (aliases ssa, vf, tau, psd accepted); ConfigError if unknown."""
    if isinstance(metrics, str):
        metrics = [m for m in metrics.split(",") if m.strip()]
    out = []
    for m in metrics:
        name = ALIASES.get(str(m).strip().lower(), str(m).strip().lower())
        if name not in METRICS:
            raise ConfigError(
                f"metric {m!r}: expected some of {', '.join(METRICS)} (or ssa, vf, tau, psd)"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def metrics_needing_units(metrics: Sequence[str]) -> list[str]:
    """The requested metrics that report lengths in µm and so need a voxel size.

    For the preflight check: a scan without ``voxel_size_um`` (file or scan sheet) can
    still run fractions, connectivity and tortuosity (dimensionless, voxel units).
    """
    return [m for m in normalise_metrics(metrics) if m in NEEDS_UNITS]


def _int(value: Any, key: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"morph.{key} {value!r}: expected an integer >= {minimum}")
    return int(value)


@dataclass
class MorphSettings:
    """Resolved ``morph`` settings (see :data:`DEFAULTS` and the module docstring)."""

    metrics: tuple[str, ...] = METRICS
    voxel_size_um: float | None = None
    axes: tuple[str, ...] = ("z", "y", "x")
    tortuosity_phases: tuple[str, ...] | None = None
    sample: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS["sample"]))
    tortuosity_max_voxels: int = 256**3
    tortuosity_cube_vox: int = 128
    tortuosity_cubes: int = 8
    tortuosity_rev_sizes: int = 3
    particle_halo_factor: int = 4
    slab_voxels: int = SLAB_VOXELS

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (recorded in morphology.json as ``settings``)."""
        return {
            "metrics": list(self.metrics),
            "voxel_size_um": self.voxel_size_um,
            "axes": list(self.axes),
            "tortuosity_phases": None
            if self.tortuosity_phases is None
            else list(self.tortuosity_phases),
            "sample": dict(self.sample),
            "tortuosity_max_voxels": self.tortuosity_max_voxels,
            "tortuosity_cube_vox": self.tortuosity_cube_vox,
            "tortuosity_cubes": self.tortuosity_cubes,
            "tortuosity_rev_sizes": self.tortuosity_rev_sizes,
            "particle_halo_factor": self.particle_halo_factor,
            "slab_voxels": self.slab_voxels,
        }


def resolve(settings: Mapping[str, Any] | None = None, **overrides: Any) -> MorphSettings:
    """:class:`MorphSettings` from a ``morph`` section; keyword ``overrides`` win if not None."""
    raw = dict(settings or {})
    for key, value in overrides.items():
        if value is not None:
            raw[key] = value
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"morph.{unknown[0]}: unknown setting (expected some of {', '.join(DEFAULTS)})"
        )
    cfg = {**DEFAULTS, **{k: v for k, v in raw.items()}}
    vs = cfg["voxel_size_um"]
    if vs is not None and (
        isinstance(vs, bool) or not isinstance(vs, int | float) or not math.isfinite(vs) or vs <= 0
    ):
        raise ConfigError(f"morph.voxel_size_um {vs!r}: expected a positive number (µm)")
    axes = cfg["axes"]
    if isinstance(axes, str):
        axes = [a for a in axes.split(",") if a.strip()]
    if not axes or any(a not in ("z", "y", "x") for a in axes):
        raise ConfigError(f"morph.axes {cfg['axes']!r}: expected some of z, y, x")
    phases = cfg["tortuosity_phases"]
    if phases is not None and (
        isinstance(phases, str) or not all(isinstance(p, str) for p in phases)
    ):
        raise ConfigError(f"morph.tortuosity_phases {phases!r}: expected a list of phase names")
    sample_cfg = dict(DEFAULTS["sample"])
    if cfg["sample"] is not None:
        if not isinstance(cfg["sample"], Mapping):
            raise ConfigError(f"morph.sample {cfg['sample']!r}: expected a mapping (mode: ...)")
        sample_cfg.update(cfg["sample"])
    sample_mod.check_settings(sample_cfg)
    return MorphSettings(
        metrics=normalise_metrics(cfg["metrics"]),
        voxel_size_um=None if vs is None else float(vs),
        axes=tuple(dict.fromkeys(axes)),
        tortuosity_phases=None if phases is None else tuple(phases),
        sample=sample_cfg,
        tortuosity_max_voxels=_int(cfg["tortuosity_max_voxels"], "tortuosity_max_voxels", 8),
        tortuosity_cube_vox=_int(cfg["tortuosity_cube_vox"], "tortuosity_cube_vox", 4),
        tortuosity_cubes=_int(cfg["tortuosity_cubes"], "tortuosity_cubes", 1),
        tortuosity_rev_sizes=_int(cfg["tortuosity_rev_sizes"], "tortuosity_rev_sizes", 1),
        particle_halo_factor=_int(cfg["particle_halo_factor"], "particle_halo_factor", 1),
        slab_voxels=_int(cfg["slab_voxels"], "slab_voxels", 1),
    )
