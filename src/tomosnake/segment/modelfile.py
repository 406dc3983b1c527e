"""Segmentation model files: weights plus everything needed to use them.

A model file (``torch.save`` of a plain dict, loaded with ``weights_only=True``)
carries ``format``/``version``, ``kind`` ("unet" or "rf"), the classes (label
values in class-index order and their phase names), the intensity normalisation,
the network architecture, the z-context and the training settings. Random-forest
files hold a pickled scikit-learn estimator, unpickled with an allow-list (scikit-learn
and numpy classes only), so a crafted file cannot run code.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tomosnake.errors import InputError
from tomosnake.io import atomic_output
from tomosnake.segment.normalise import Normalisation

FORMAT = "tomosnake-segment-model"
VERSION = 1


@dataclass
class SegmentModel:
    """A trained classifier and its metadata.

    ``phases`` maps phase name -> label value, in class-index order (class i is
    ``list(phases)[i]``). ``context`` is the number of z-slices on each side fed
    to the network (0 = 2-D).
    """

    kind: str
    phases: dict[str, int]
    normalisation: Normalisation
    context: int = 0
    arch: dict[str, int] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    network: torch.nn.Module | None = None
    forest: Any = None

    @property
    def label_values(self) -> list[int]:
        return list(self.phases.values())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "phase_names": list(self.phases),
            "label_values": self.label_values,
            "normalisation": self.normalisation.to_dict(),
            "context": self.context,
            "arch": dict(self.arch),
            "training": dict(self.training),
        }
        if self.kind == "unet":
            d["state_dict"] = {k: v.detach().cpu() for k, v in self.network.state_dict().items()}
        else:
            d["forest"] = pickle.dumps(self.forest)
        return d

    def save(self, path: str | Path) -> Path:
        """Write the model file atomically."""
        with atomic_output(path) as tmp:
            torch.save(self.to_dict(), tmp)
        return Path(path)


class _ForestUnpickler(pickle.Unpickler):
    """Unpickles a scikit-learn forest and nothing else: a model file is data, so any
    global outside scikit-learn and numpy (``os.system``, ``builtins.eval``...) is refused."""

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle protocol
        if module.split(".")[0] in {"sklearn", "numpy"}:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"model file refers to {module}.{name}, which is not allowed")


def load_model(path: str | Path) -> SegmentModel:
    """Read a model file written by :meth:`SegmentModel.save`; InputError if it is not one."""
    from tomosnake.segment.unet import UNet

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file does not exist")
    try:
        d = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: not a readable tomosnake model file ({first})") from exc
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise InputError(f"{path}: not a tomosnake segmentation model (no '{FORMAT}' header)")
    if d.get("version") != VERSION:
        raise InputError(f"{path}: model file version {d.get('version')}, expected {VERSION}")
    try:
        phases = dict(zip(d["phase_names"], (int(v) for v in d["label_values"]), strict=True))
        model = SegmentModel(
            kind=d["kind"],
            phases=phases,
            normalisation=Normalisation.from_dict(d["normalisation"]),
            context=int(d["context"]),
            arch=dict(d["arch"]),
            training=dict(d["training"]),
        )
        if model.kind == "unet":
            net = UNet(2 * model.context + 1, len(phases), **model.arch)
            net.load_state_dict(d["state_dict"])
            model.network = net.eval()
        elif model.kind == "rf":
            model.forest = _ForestUnpickler(io.BytesIO(d["forest"])).load()
        else:
            raise ValueError(f"unknown model kind {model.kind!r}")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: damaged or incompatible model file ({first})") from exc
    return model


def check_phases(model: SegmentModel, phases: dict[str, int] | None, source: str) -> None:
    """InputError unless ``phases`` (if given) is the model's class set."""
    if phases is not None and dict(phases) != model.phases:
        raise InputError(
            f"{source}: model classes {model.phases} do not match the requested phases "
            f"{dict(phases)}; retrain the model or pass its phases"
        )
