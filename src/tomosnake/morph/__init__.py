"""Morphology of labelled volumes inside the sample: fractions, surfaces, connectivity,
tortuosity, sizes.

Entry points: :func:`analyse` (array -> record), :func:`analyse_store` (labels store ->
morphology.json), :func:`write_morphology_json`, :func:`summary_row`,
:func:`metrics_needing_units` (preflight), :func:`sample_mask` (the sample region of any
slab, from a record). The record's schema and units are described in
:mod:`tomosnake.morph.analyse`; the settings in :mod:`tomosnake.morph.settings`.
"""

from tomosnake.morph.analyse import (
    METRICS,
    SCHEMA_ID,
    SCHEMA_PATH,
    analyse,
    analyse_store,
    summary_row,
    write_morphology_json,
)
from tomosnake.morph.connectivity import connectivity
from tomosnake.morph.fractions import volume_fractions
from tomosnake.morph.sample import sample_mask
from tomosnake.morph.settings import DEFAULTS, metrics_needing_units, normalise_metrics
from tomosnake.morph.sizes import (
    local_thickness,
    particle_sizes,
    separate_particles,
    thickness_distribution,
)
from tomosnake.morph.surface import mask_area, surface_areas
from tomosnake.morph.tortuosity import TortuosityResult, bruggeman_fit, tortuosity
from tomosnake.morph.units import parse_voxel_size

__all__ = [
    "DEFAULTS",
    "METRICS",
    "SCHEMA_ID",
    "SCHEMA_PATH",
    "TortuosityResult",
    "analyse",
    "analyse_store",
    "bruggeman_fit",
    "connectivity",
    "local_thickness",
    "mask_area",
    "metrics_needing_units",
    "normalise_metrics",
    "parse_voxel_size",
    "particle_sizes",
    "sample_mask",
    "separate_particles",
    "summary_row",
    "surface_areas",
    "thickness_distribution",
    "tortuosity",
    "volume_fractions",
    "write_morphology_json",
]
