"""Per-acquisition intensity normalisation by robust percentiles.

Grey values of different acquisitions (float reconstructions around 0..3,
16-bit counts 13000..65535) are mapped so that the ``low`` percentile goes to
0 and the ``high`` percentile to 1. The percentiles are measured once per
acquisition (a whole volume, or all slices of one acquisition) on a strided
subsample, or read from the grey-value sketch the workflow's reconstruction stores
(:mod:`tomosnake.sketch`), so every chunk of a volume is scaled identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tomosnake import sketch
from tomosnake.errors import InputError

#: slices and pixels sampled when measuring a volume's percentiles
MAX_SAMPLE_SLICES = 32
MAX_SAMPLE_PIXELS = 4_000_000


@dataclass(frozen=True)
class Normalisation:
    """Percentile settings: grey value at ``low`` % -> 0, at ``high`` % -> 1."""

    low: float = 0.5
    high: float = 99.5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Normalisation:
        return cls(low=float(d["low"]), high=float(d["high"]))

    def measure(self, planes: Sequence[np.ndarray] | np.ndarray, name: str = "volume") -> tuple:
        """Grey values (lo, hi) at the percentiles of ``planes`` (a (z, y, x) array or slices).

        A zarr array with a ``sketch`` attribute (the workflow's reconstruction) is not
        read at all; otherwise only a strided subsample (at most 32 planes, ~4 M pixels)
        is, so ``planes`` may be a lazy zarr array. Raises InputError for NaN/inf or a
        constant image.
        """
        sk = stored_sketch(planes)
        if sk is not None:
            lo, hi = sketch.percentile(sk, self.low), sketch.percentile(sk, self.high)
        else:
            values = sample_values(planes, name)
            lo, hi = np.percentile(values, [self.low, self.high])
        if not hi > lo:
            raise InputError(f"{name}: grey values are constant ({lo}); nothing to segment")
        return float(lo), float(hi)


def stored_sketch(planes: object) -> dict | None:
    """The grey-value sketch stored with a volume (zarr attribute ``sketch``), or None."""
    sk = dict(getattr(planes, "attrs", None) or {}).get("sketch")
    return sk if isinstance(sk, dict) and sk.get("count") else None


def sample_values(planes: Sequence[np.ndarray] | np.ndarray, name: str = "volume") -> np.ndarray:
    """Strided subsample of a volume's grey values (at most 32 planes, ~4 M values);
    InputError for an empty volume or NaN/inf."""
    n = planes.shape[0] if hasattr(planes, "shape") else len(planes)
    if n == 0:
        raise InputError(f"{name}: no image data to normalise")
    zs = np.unique(np.linspace(0, n - 1, min(n, MAX_SAMPLE_SLICES)).round().astype(int))
    per_plane = max(1, MAX_SAMPLE_PIXELS // len(zs))
    samples = []
    for z in zs:
        plane = np.asarray(planes[int(z)], dtype=np.float32).ravel()
        samples.append(plane[:: max(1, plane.size // per_plane)])
    values = np.concatenate(samples)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{name}: grey values contain NaN or inf")
    return values


def apply(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Scale ``image`` so that ``lo`` -> 0 and ``hi`` -> 1 (float32, not clipped)."""
    out = (np.asarray(image, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    if not np.all(np.isfinite(out)):
        raise InputError("grey values contain NaN or inf")
    return out
