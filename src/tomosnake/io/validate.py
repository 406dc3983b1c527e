"""Checks every scan reader applies: angle units, finite values, detector dtypes.

Angle units
-----------
Files store rotation angles in degrees (DXchange files written by tomopy/dxchange,
NeXus files of Diamond, APS, ESRF...) or in radians. :func:`angles_to_radians`
decides, in this order:

1. the caller's ``unit`` option (``"deg"`` or ``"rad"``) when it is not ``"auto"``;
2. the dataset's ``units`` attribute (``deg``, ``degree(s)``, ``rad``, ``radian(s)``...);
3. the values: if any ``|angle|`` exceeds ``2 pi`` (plus a small tolerance) they are
   degrees, otherwise radians. A scan whose angles in degrees all lie within
   +-6.28 (a very small tilt series) is therefore taken for radians: pass
   ``theta_unit="deg"`` to :func:`tomosnake.io.read_scan` for such files.
"""

from __future__ import annotations

import numpy as np

from tomosnake.errors import ConfigError, InputError

THETA_UNITS = ("auto", "deg", "rad")
_DEG_NAMES = {"deg", "degree", "degrees", "°", "degs"}
_RAD_NAMES = {"rad", "radian", "radians", "rads"}


def angles_to_radians(
    values: np.ndarray, where: str, units: str | None = None, unit: str = "auto"
) -> np.ndarray:
    """Rotation angles as float64 radians.

    Args:
        values: angles as stored in the file.
        where: file and dataset the angles come from (for error messages).
        units: the dataset's ``units`` attribute, if any.
        unit: ``"auto"`` (attribute, then values), ``"deg"`` or ``"rad"``.

    Raises:
        ConfigError: ``unit`` is not one of ``auto``, ``deg``, ``rad``.
        InputError: the angles are not finite or the unit attribute is unknown.
    """
    if unit not in THETA_UNITS:
        raise ConfigError(f"theta_unit {unit!r} is not one of {list(THETA_UNITS)}")
    theta = np.asarray(values, dtype=np.float64).ravel()
    require_finite(theta, where)
    if unit == "auto" and units:
        name = units.strip().lower()
        if name in _DEG_NAMES:
            unit = "deg"
        elif name in _RAD_NAMES:
            unit = "rad"
        else:
            raise InputError(f"{where}: angle units {units!r} are neither degrees nor radians")
    if unit == "auto":
        unit = "deg" if theta.size and np.abs(theta).max() > 2 * np.pi * (1 + 1e-3) else "rad"
    return np.deg2rad(theta) if unit == "deg" else theta


def require_finite(array: np.ndarray, where: str, offset: int = 0) -> None:
    """Raise InputError naming ``where`` if a floating-point ``array`` holds NaN or inf.

    ``offset``: index of ``array[0]`` in the whole stack (a block of frames ``a0..a1`` is
    checked with ``offset=a0``, so the message names the frame in the file).
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(array)
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        if offset and first:
            first = (first[0] + offset, *first[1:])
        raise InputError(
            f"{where}: {n_bad} NaN/inf value(s) (first at index {first}); "
            "expected finite detector values"
        )


def dtype_problem(dtype: np.dtype, where: str) -> str | None:
    """Why ``dtype`` cannot hold detector values (not integer or real float), or None."""
    if np.dtype(dtype).kind not in "iuf":
        return f"{where}: expected integer or float detector values, got dtype {np.dtype(dtype)}"
    return None
