"""Classical baselines: multi-Otsu thresholds and a random forest on filter features.

The random forest follows ilastik / Trainable Weka Segmentation: every pixel is
described by Gaussian-smoothed intensity, gradient magnitude and Hessian
eigenvalues at several scales (scikit-image ``multiscale_basic_features``,
computed per 2-D slice) and classified by scikit-learn's RandomForestClassifier.
"""

from __future__ import annotations

import numpy as np
from skimage.feature import multiscale_basic_features
from skimage.filters import threshold_multiotsu

from tomosnake.errors import InputError

#: feature scales in pixels
SIGMA_MIN, SIGMA_MAX = 0.5, 8.0


def otsu_thresholds(values: np.ndarray, classes: int) -> np.ndarray:
    """Multi-Otsu thresholds (classes - 1 grey values, increasing) of a sample of grey values."""
    values = np.asarray(values, dtype=np.float32).ravel()
    if not np.all(np.isfinite(values)):
        raise InputError("grey values contain NaN or inf")
    try:
        return threshold_multiotsu(values, classes=classes)
    except ValueError as exc:
        raise InputError(f"multi-Otsu with {classes} classes failed: {exc}") from exc


def otsu_classes(image: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class index per voxel (0 = darkest) for increasing ``thresholds``."""
    return np.digitize(image, thresholds).astype(np.uint8)


def pixel_features(plane: np.ndarray) -> np.ndarray:
    """Filter features (y, x, features) float32 of one normalised 2-D slice."""
    return multiscale_basic_features(
        np.asarray(plane, dtype=np.float32),
        intensity=True,
        edges=True,
        texture=True,
        sigma_min=SIGMA_MIN,
        sigma_max=SIGMA_MAX,
        channel_axis=None,
    ).astype(np.float32)


def train_forest(
    items: list[tuple[np.ndarray, np.ndarray]],
    n_classes: int,
    seed: int = 0,
    per_class: int = 30_000,
    n_estimators: int = 100,
    threads: int | None = None,
):
    """Fit a RandomForestClassifier on (normalised slice (y, x), class indices (y, x)) pairs.

    At most ``per_class`` labelled pixels of each class are drawn (balanced
    classes, so the thin CBD phase counts as much as the bulk phases).
    """
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    feats, targets = [], []
    for plane, target in items:
        f = pixel_features(plane)
        mask = target >= 0
        feats.append(f[mask])
        targets.append(target[mask])
    x, y = np.concatenate(feats), np.concatenate(targets)
    pick = []
    for k in range(n_classes):
        idx = np.flatnonzero(y == k)
        pick.append(rng.choice(idx, min(per_class, idx.size), replace=False))
    pick = np.concatenate(pick)
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        min_samples_leaf=3,
        n_jobs=threads or -1,
        random_state=seed,
    )
    forest.fit(x[pick], y[pick])
    forest.n_jobs = 1
    return forest
