"""Segmentation of reconstructed volumes into phases (pore, carbon-binder, active material).

Methods: a 2-D (or 2.5-D) U-Net trained from a few labelled slices
(:func:`train_model`, :func:`train_from_volume`, :func:`train_from_labels`), multi-Otsu
thresholds, and a random forest on filter features. :func:`segment_volume` applies any of
them to a whole volume chunk by chunk. Hand labels come from SegmentPy folders, label-TIFF
folders or sparse label volumes (:func:`read_label_source`); :func:`export_slices` writes
slices to paint; :func:`segment_qc` says where the model is unsure and which slices to
label next. Volumes are (z, y, x).
"""

from tomosnake.segment.data import CANONICAL_PHASES
from tomosnake.segment.export import export_slices, export_sparse
from tomosnake.segment.labels import LabelledSlices, check_label_source, read_label_source
from tomosnake.segment.metrics import iou_per_phase
from tomosnake.segment.modelfile import SegmentModel, load_model
from tomosnake.segment.normalise import Normalisation
from tomosnake.segment.qc import (
    merge_slice_summaries,
    read_slice_summaries,
    segment_qc,
    suggest_slices,
    write_segment_qc,
)
from tomosnake.segment.train import (
    DEFAULTS,
    train_from_labels,
    train_from_volume,
    train_model,
)
from tomosnake.segment.volume import segment_volume

__all__ = [
    "CANONICAL_PHASES",
    "DEFAULTS",
    "LabelledSlices",
    "Normalisation",
    "SegmentModel",
    "check_label_source",
    "export_slices",
    "export_sparse",
    "iou_per_phase",
    "load_model",
    "merge_slice_summaries",
    "read_label_source",
    "read_slice_summaries",
    "segment_qc",
    "segment_volume",
    "suggest_slices",
    "train_from_labels",
    "train_from_volume",
    "train_model",
    "write_segment_qc",
]
