"""Preprocessing: flat/dark normalisation, zingers, stripes (rings), Paganin, rotation centre.

Projections are (angle, z, x), sinograms (angle, x), angles in radians; outputs are float32.
Rotation centres use tomopy's convention: column j spans [j, j + 1), the detector middle is n/2.
"""

from tomosnake.preprocess.center import (
    find_center,
    find_center_360,
    find_center_pc,
    find_center_vo,
    half_pair,
    is_360,
)
from tomosnake.preprocess.half_acquisition import stitch_half_acquisition
from tomosnake.preprocess.normalize import minus_log, normalize
from tomosnake.preprocess.phase import paganin_alpha, retrieve_phase
from tomosnake.preprocess.ring_metric import ring_metric_image, stripe_metric
from tomosnake.preprocess.stripes import (
    remove_all_stripe,
    remove_dead_stripe,
    remove_large_stripe,
    remove_stripe_fw,
    remove_stripe_sort,
    remove_stripe_ti,
    remove_stripes,
)
from tomosnake.preprocess.zingers import remove_outlier

__all__ = [
    "find_center",
    "find_center_360",
    "find_center_pc",
    "find_center_vo",
    "half_pair",
    "is_360",
    "minus_log",
    "normalize",
    "paganin_alpha",
    "remove_all_stripe",
    "remove_dead_stripe",
    "remove_large_stripe",
    "remove_outlier",
    "remove_stripe_fw",
    "remove_stripe_sort",
    "remove_stripe_ti",
    "remove_stripes",
    "retrieve_phase",
    "ring_metric_image",
    "stitch_half_acquisition",
    "stripe_metric",
]
