"""Segmentation of reconstructed volumes into phases (pore, carbon-binder, active material).

Methods: a 2-D (or 2.5-D) U-Net trained from a few labelled slices
(:func:`train_model`, :func:`train_from_volume`), multi-Otsu thresholds, and a
random forest on filter features. :func:`segment_volume` applies any of them to
a whole volume chunk by chunk. Volumes are (z, y, x).
"""

from tomosnake.segment.data import CANONICAL_PHASES
from tomosnake.segment.metrics import iou_per_phase
from tomosnake.segment.modelfile import SegmentModel, load_model
from tomosnake.segment.normalise import Normalisation
from tomosnake.segment.train import train_from_volume, train_model
from tomosnake.segment.volume import segment_volume

__all__ = [
    "CANONICAL_PHASES",
    "Normalisation",
    "SegmentModel",
    "iou_per_phase",
    "load_model",
    "segment_volume",
    "train_from_volume",
    "train_model",
]
