"""``tomosnake label``: export slices to paint, and check painted labels.

    tomosnake label export VOLUME OUTDIR (--slices 10,20,30 | --auto N | --qc QC.json)
        [--model M.pt]
    tomosnake label export SCAN OUTDIR --auto N     (in the workflow's folder: the scan's
        reconstruction; the N slices its model is least sure of, pre-filled)
    tomosnake label export VOLUME OUT.zarr --sparse
    tomosnake label check SOURCE [--volume VOLUME] [--label-phases nmc=0,cbd=1,pore=2]

VOLUME is the scan's reconstruction (``results/{scan}/scan.ome.zarr/0`` or a TIFF stack), or
the scan id itself when run in the workflow's folder. The
folder is ready to paint in FIJI, napari or SegmentPy (``N.tif`` grey, ``N_label.tif``
labels: pore=0, cbd=1, nmc=2, 255 = unlabelled); keep it outside ``results/`` and point the
scan sheet's ``segment.labels`` at it.
"""

from __future__ import annotations

import argparse


def _slices(text: str) -> list[int]:
    try:
        return sorted({int(s) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected indices like 10,20,30, got {text!r}") from None


def _suggested(qc_path: str) -> list[int]:
    """``suggested_slices`` of a segment_qc.json."""
    import json

    from tomosnake.errors import InputError

    try:
        return [int(z) for z in json.loads(open(qc_path).read())["suggested_slices"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{qc_path}: not a readable segment_qc.json ({exc})") from exc


def _resolve(args: argparse.Namespace) -> None:
    """A scan id for VOLUME: its level 0, and (unless given) the model its segment_qc.json
    names, so that --auto ranks slices by that model's confidence."""
    import json
    from pathlib import Path

    if Path(args.volume).exists():
        return
    scan = Path("results") / args.volume
    if not (scan / "scan.ome.zarr" / "0").exists():
        return  # left to the reader, which names the missing path
    args.volume = str(scan / "scan.ome.zarr" / "0")
    qc = scan / "segment_qc.json"
    if qc.is_file() and args.auto and not args.sparse:
        model = json.loads(qc.read_text()).get("model")
        if args.model is None and model and Path(model).is_file():
            args.model = model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands export and check."""
    from tomosnake.segment.cli import _phases

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = sub.add_parser("export", help="write slices to paint (SegmentPy folder or napari store)")
    e.add_argument("volume", metavar="VOLUME",
                   help="reconstruction (zarr store or TIFF stack), or a scan id of the workflow")
    e.add_argument("out", metavar="OUT", help="label folder (or OUT.zarr with --sparse)")
    e.add_argument("--slices", type=_slices, default=[], help="slice indices, e.g. 10,20,30")
    e.add_argument("--auto", type=int, default=0, metavar="N",
                   help="N more slices: spread through the sample, or with --model the "
                   "least confident ones")
    e.add_argument("--qc", help="a scan's segment_qc.json: add its suggested slices")
    e.add_argument("--model", help="model file: pre-fill labels with its prediction")
    e.add_argument("--sparse", action="store_true",
                   help="write an empty label store the size of the volume for napari")
    c = sub.add_parser("check", help="check a label source and list its labelled slices")
    c.add_argument("source", metavar="SOURCE", help="label folder, zarr store or TIFF stack")
    c.add_argument("--volume", help="reconstruction the labels belong to (checks sizes)")
    c.add_argument("--label-phases", type=_phases,
                   help="label values when the source has no labels.json (default "
                   "pore=0,cbd=1,nmc=2; SegmentPy: nmc=0,cbd=1,pore=2)")
    c.add_argument("--unlabelled", type=int, help="unlabelled value (default 255)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; errors are TomosnakeError subclasses."""
    from tomosnake.errors import ConfigError

    if args.action == "export":
        from tomosnake.segment.export import export_slices, export_sparse

        _resolve(args)
        if args.sparse:
            if args.slices or args.auto or args.model or args.qc:
                raise ConfigError("--sparse takes no --slices, --auto, --qc or --model")
            export_sparse(args.volume, args.out)
            print(f"wrote {args.out}: paint it in napari, e.g.\n"
                  f"  import napari, zarr; v = napari.Viewer(); v.open('{args.volume}')\n"
                  f"  v.add_labels(zarr.open_array('{args.out}', mode='r+'))\n"
                  "labels: 1 = pore, 2 = cbd, 3 = nmc, 0 = unlabelled")
            return 0
        slices = list(args.slices)
        if args.qc:
            slices += _suggested(args.qc)
        done = export_slices(args.volume, args.out, sorted(set(slices)), args.auto, args.model)
        print(f"wrote slices {done} to {args.out}: paint N_label.tif (0 = pore, 1 = cbd, "
              "2 = nmc, 255 = unlabelled) and point the scan sheet's segment.labels at it")
        return 0
    from tomosnake.io import open_volume
    from tomosnake.segment.labels import read_label_source

    shape = tuple(open_volume(args.volume).shape) if args.volume else None
    ls = read_label_source(args.source, shape, args.label_phases, args.unlabelled)
    counts = {name: int((ls.labels == code).sum()) for name, code in ls.phases.items()}
    print(f"{args.source}: {ls.kind}, slices {ls.z}, labelled pixels {counts}")
    for w in ls.warnings:
        print(f"warning: {w}")
    return 0
