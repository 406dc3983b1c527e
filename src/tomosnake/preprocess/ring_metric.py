"""Numbers measuring stripes in sinograms and rings in reconstructed slices.

* :func:`stripe_metric`: ring artefacts come from detector columns whose response differs
  from their neighbours', which shows as a column-mean profile of the sinogram with
  pixel-scale jumps. The metric is the RMS of (column mean - its running median over ``size``
  columns), divided by the RMS of the sinogram, so it is dimensionless and comparable before
  and after stripe removal. The default 9-column median passes stripes up to 4 columns wide
  while following most real structure of the profile.
* :func:`ring_metric_image`: on a reconstructed slice, the standard deviation of the polar
  (angle-averaged) profile about the rotation axis minus its running median: rings are thin
  circles, so they appear as sharp features in that profile.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tomosnake.errors import InputError


def stripe_metric(sino: np.ndarray, size: int = 9) -> float:
    """Dimensionless stripe strength of a sinogram (angle, x) of line integrals; 0 = no stripes."""
    s = np.asarray(sino, dtype=np.float64)
    if s.ndim != 2:
        raise InputError(f"stripe_metric needs a 2-D sinogram (angle, x), got {s.shape}")
    prof = s.mean(axis=0)
    resid = prof - ndimage.median_filter(prof, size=int(size) | 1, mode="nearest")
    scale = np.sqrt(np.mean(s**2))
    return float(np.sqrt(np.mean(resid**2)) / scale) if scale > 0 else 0.0


def ring_metric_image(image: np.ndarray, center_yx: tuple[float, float] | None = None,
                      size: int = 9, radius_fraction: float = 0.95) -> float:
    """Ring strength of a reconstructed slice (y, x): std of the polar-profile residual.

    Args:
        image: reconstructed slice (y, x).
        center_yx: rotation axis in pixel-centre coordinates (default: the image centre).
        size: running-median width over radius (pixels) that removes the real structure.
        radius_fraction: only radii up to this fraction of the inscribed circle are used.

    Returns:
        std of (mean over each 1-pixel ring - running median of that profile), in the units of
        ``image``.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise InputError(f"ring_metric_image needs a 2-D slice, got {img.shape}")
    ny, nx = img.shape
    cy, cx = ((ny - 1) / 2, (nx - 1) / 2) if center_yx is None else center_yx
    yy, xx = np.indices(img.shape)
    r = np.hypot(yy - cy, xx - cx)
    rmax = radius_fraction * min(cy, cx, ny - 1 - cy, nx - 1 - cx)
    ri = np.round(r).astype(int)
    keep = r <= rmax
    counts = np.bincount(ri[keep])
    sums = np.bincount(ri[keep], weights=img[keep])
    prof = sums[counts > 0] / counts[counts > 0]
    resid = prof - ndimage.median_filter(prof, size=int(size) | 1, mode="nearest")
    return float(np.std(resid[3:]))  # the first radii average too few pixels
