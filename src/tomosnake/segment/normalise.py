"""Per-acquisition intensity normalisation by robust percentiles.

Grey values of different acquisitions (float reconstructions around 0..3,
16-bit counts 13000..65535) are mapped so that the ``low`` percentile goes to
0 and the ``high`` percentile to 1. The percentiles are measured once per
acquisition (a whole volume, or all slices of one acquisition) on a strided
subsample, so every chunk of a volume is scaled identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

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

        Only a strided subsample (at most 32 planes, ~4 M pixels) is read, so
        ``planes`` may be a lazy zarr array. Raises InputError for NaN/inf or a
        constant image.
        """
        n = planes.shape[0] if hasattr(planes, "shape") else len(planes)
        if n == 0:
            raise InputError(f"{name}: no image data to normalise")
        zs = np.unique(np.linspace(0, n - 1, min(n, MAX_SAMPLE_SLICES)).round().astype(int))
        per_plane = max(1, MAX_SAMPLE_PIXELS // len(zs))
        samples = []
        for z in zs:
            plane = np.asarray(planes[int(z)], dtype=np.float32).ravel()
            step = max(1, plane.size // per_plane)
            samples.append(plane[::step])
        values = np.concatenate(samples)
        if not np.all(np.isfinite(values)):
            raise InputError(f"{name}: grey values contain NaN or inf")
        lo, hi = np.percentile(values, [self.low, self.high])
        if not hi > lo:
            raise InputError(f"{name}: grey values are constant ({lo}); nothing to segment")
        return float(lo), float(hi)


def apply(image: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Scale ``image`` so that ``lo`` -> 0 and ``hi`` -> 1 (float32, not clipped)."""
    out = (np.asarray(image, dtype=np.float32) - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    if not np.all(np.isfinite(out)):
        raise InputError("grey values contain NaN or inf")
    return out
