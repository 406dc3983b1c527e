"""Reconstructed values in physical units.

Reconstructions are attenuation per voxel length (tomopy's convention: the line integrals are
in units of voxel lengths, so a voxel of linear attenuation coefficient mu [1/um] and edge
a [um] reads mu * a). :func:`per_micrometre` turns them into mu in 1/um.
"""

from __future__ import annotations

import math

import numpy as np

from tomosnake.errors import ConfigError


def per_micrometre(values: np.ndarray | float, voxel_size_um: float | None) -> np.ndarray | float:
    """Attenuation per voxel length -> linear attenuation coefficient in 1/um.

    Args:
        values: reconstructed values (per voxel length), any shape.
        voxel_size_um: voxel edge in micrometres.

    Raises:
        ConfigError: the voxel size is missing, not positive or not finite.
    """
    if voxel_size_um is None or not math.isfinite(voxel_size_um) or voxel_size_um <= 0:
        raise ConfigError(f"voxel_size_um must be a positive number to state attenuation in "
                          f"1/um, got {voxel_size_um!r}")
    if np.ndim(values) == 0:
        return float(values) / voxel_size_um
    return np.asarray(values, dtype=np.float32) / np.float32(voxel_size_um)
