"""The segmentation models of a beamtime: which labels train which model, which model
segments which scan.

Scans are grouped by ``segment.group`` (default ``default``). The labelled slices of a
group's scans (``segment.labels``) and the ground truth of its simulated ``train_scans``
train one model per method (``cnn``, ``rf``): ``results/models/{group}.{method}.pt``. Every
scan of the group whose ``segment.method`` is cnn or rf is segmented by that model, unless
it names a model file of its own (``segment.model``). Everything here reads the config and
the label files' headers only (:func:`check_labels` is the preflight of a label source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomosnake.errors import ConfigError, TomosnakeError

TRAINED_METHODS = ("cnn", "rf")
#: the ``segment`` settings of training (the U-Net uses all, the random forest ``seed``)
TRAIN_KEYS = ("epochs", "patch", "batch_size", "width", "depth", "lr", "loss",
              "class_weight_power", "seed")
MODEL_PATTERN = "results/models/{group}.{method}.pt"
#: the scan a label folder was exported from, by the path ``tomosnake label export`` records
_EXPORTED_FROM = re.compile(r"(?:^|/)results/(?P<scan>[^/]+)/")


@dataclass
class TrainingSet:
    """What trains one model: (scan, label source) pairs and simulated scans with truth."""

    group: str
    method: str
    labelled: list[tuple[str, str]] = field(default_factory=list)
    simulated: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return MODEL_PATTERN.format(group=self.group, method=self.method)

    @property
    def scans(self) -> list[str]:
        """Scans whose reconstructions the training reads."""
        return [s for s, _ in self.labelled] + self.simulated


def model_of(scan_settings: Mapping[str, Any]) -> str | None:
    """The model file that segments a scan (None for otsu): given, or its group's."""
    seg = scan_settings["segment"]
    if seg["method"] not in TRAINED_METHODS:
        return None
    return seg["model"] or MODEL_PATTERN.format(group=seg["group"], method=seg["method"])


def training_sets(
    config: Mapping[str, Any],
    settings: Mapping[str, Mapping[str, Any]],
    simulated: set[str],
) -> dict[str, TrainingSet]:
    """Model path -> its :class:`TrainingSet`, for every model some scan needs.

    Args:
        config: the validated config (``segment.train_scans``).
        settings: scan id -> per-stage settings, in sheet order.
        simulated: scans that have ground truth.

    Raises ConfigError when a train scan is not in the sheet or has no ground truth, or a
    cnn/rf scan's group has nothing to train on and the scan names no model file.
    """
    train = list(config["segment"]["train_scans"])
    unknown = [s for s in train if s not in settings]
    if unknown:
        raise ConfigError(f"segment.train_scans {unknown}: not in the scan sheet "
                          f"{config.get('scans')}")
    no_truth = [s for s in train if s not in simulated]
    if no_truth:
        raise ConfigError(
            f"segment.train_scans {no_truth}: no ground truth to train on (only simulated "
            "scans, resources/sim/NAME.h5 or NAME_tiff, have one); label slices of real scans "
            "with segment.labels instead"
        )
    sets: dict[str, TrainingSet] = {}
    for scan, st in settings.items():
        seg = st["segment"]
        if seg["method"] not in TRAINED_METHODS or seg["model"]:
            continue
        path = model_of(st)
        if path in sets:
            continue
        group = seg["group"]
        ts = TrainingSet(group, seg["method"])
        ts.labelled = [(s, str(o["segment"]["labels"])) for s, o in settings.items()
                       if o["segment"]["labels"] and o["segment"]["group"] == group]
        ts.simulated = [s for s in train if settings[s]["segment"]["group"] == group]
        if not ts.scans:
            raise ConfigError(
                f"scan {scan!r} uses segment.method {seg['method']}, which needs a trained "
                f"model, but no scan of its group {group!r} has segment.labels (label a few "
                "slices: tomosnake label export) and segment.train_scans names no simulated "
                "scan of it; or give a model file in segment.model, or use otsu"
            )
        sets[path] = ts
    return sets


def check_labels(
    scan: str,
    seg: Mapping[str, Any],
    shape: tuple[int | None, int | None, int | None],
    sheet_scans: Mapping[str, Any],
) -> list[str]:
    """Problems of a scan's label source and given model file (empty: fine); no pixel
    data of the scan is read. ``shape`` is its reconstruction's (z, y, x), entries None
    where not known before reconstructing."""
    from tomosnake.segment.labels import check_label_source, read_sidecar

    problems = []
    model = seg.get("model")
    if model and not Path(model).is_file():
        problems.append(f"{model}: segment.model does not exist")
    source = seg.get("labels")
    if not source:
        return problems
    path = Path(source)
    if path.is_dir():
        try:
            exported = str(read_sidecar(path).get("volume") or "")
        except TomosnakeError as exc:
            return [*problems, str(exc)]
        m = _EXPORTED_FROM.search(exported)
        if m and m["scan"] != scan:
            where = ("another scan of the sheet" if m["scan"] in sheet_scans
                     else "a scan that is not in the scan sheet")
            problems.append(f"{path / 'labels.json'}: exported from scan {m['scan']!r} "
                            f"({where}) but given as the labels of scan {scan!r}")
    try:
        check_label_source(path, shape, seg["label_phases"], seg["label_unlabelled"])
    except TomosnakeError as exc:
        problems.append(str(exc))
    return problems
