"""Voxel sizes with units: ``"50nm"``, ``"0.05 um"``, ``"0.05µm"``, ``"1e-4mm"`` -> micrometres."""

from __future__ import annotations

import math
import re

from tomosnake.errors import ConfigError

#: length unit -> micrometres
UNITS_UM = {"nm": 1e-3, "um": 1.0, "µm": 1.0, "μm": 1.0, "micron": 1.0, "mm": 1e3}

_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Zµμ]*)\s*$")


def parse_voxel_size(text: str | float) -> float:
    """Voxel edge length in µm from ``"50nm"``, ``"0.05um"``, ``"0.05 µm"`` or ``"1e-4mm"``.

    A bare number is taken as micrometres. Raises :class:`ConfigError` for an unknown unit
    or a non-positive size.
    """
    if isinstance(text, int | float):
        value, unit = float(text), "um"
    else:
        match = _PATTERN.match(str(text))
        if not match:
            raise ConfigError(
                f"voxel size {text!r}: expected a number and unit, e.g. 50nm or 0.05um"
            )
        value, unit = float(match.group(1)), match.group(2) or "um"
        if unit not in UNITS_UM:
            raise ConfigError(
                f"voxel size {text!r}: unknown unit {unit!r} (expected one of nm, um, µm, mm)"
            )
    size = value * UNITS_UM[unit]
    if not (math.isfinite(size) and size > 0):
        raise ConfigError(f"voxel size {text!r}: must be a positive length")
    return size
