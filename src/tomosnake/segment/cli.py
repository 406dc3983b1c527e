"""``tomosnake segment``: train a model, or segment a slice/stack/volume with it or classically.

    tomosnake segment train --data DIR [--data DIR2 ...] --out model.pt [--epochs N]
    tomosnake segment predict --model model.pt INPUT OUTPUT
    tomosnake segment otsu INPUT OUTPUT [--phases pore=0,cbd=1,nmc=2]

INPUT/OUTPUT: a 2-D TIFF, a TIFF stack or a zarr store. Output labels use the
training labels' values.
"""

from __future__ import annotations

import argparse

from tomosnake.segment.train import DEFAULTS

#: training options: flag, type, help (defaults from tomosnake.segment.train.DEFAULTS)
_TRAIN_FLAGS = (
    ("--epochs", int, "passes over the labelled pixels"),
    ("--patch", int, "training patch size (pixels)"),
    ("--batch-size", int, "patches per step"),
    ("--width", int, "U-Net channels at full resolution"),
    ("--depth", int, "U-Net poolings"),
    ("--lr", float, "peak learning rate (one-cycle schedule)"),
    ("--loss", str, "ce, dice_ce or focal"),
    ("--class-weight-power", float, "class weights = frequency ** -p"),
    ("--seed", int, "random seed"),
)


def _phases(text: str) -> dict[str, int]:
    """'name=value,...' -> {name: value} (order kept), for argparse."""
    from tomosnake.errors import ConfigError
    from tomosnake.phases import parse_phases

    try:
        return parse_phases(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _common_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="INPUT", help="2-D TIFF, TIFF stack or zarr volume (z, y, x)")
    p.add_argument("output", metavar="OUTPUT", help="labels: .tif or zarr store")
    p.add_argument("--chunk-z", type=int, default=16, help="slices per processed slab")
    p.add_argument("--z-range", type=int, nargs=2, metavar=("START", "STOP"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands train, predict and otsu."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = sub.add_parser("train", help="train a U-Net (or random forest) from labelled slices")
    t.add_argument(
        "--data", action="append", required=True, metavar="DIR",
        help="SegmentPy folder (N.tif + N_label.tif) or 'GREY,LABELS' volume pair; repeatable",
    )
    t.add_argument("--out", required=True, help="model file to write (.pt)")
    t.add_argument("--method", choices=("cnn", "rf"), help="U-Net (cnn, default) or random forest")
    t.add_argument("--phases", type=_phases, help="phase names and label values, e.g. "
                   "pore=0,cbd=1,nmc=2 (default: values found, named class_<value>)")
    t.add_argument("--ignore-value", type=int, help="label value of unlabelled voxels")
    for flag, kind, text in _TRAIN_FLAGS:
        key = flag[2:].replace("-", "_")
        t.add_argument(flag, type=kind, help=f"{text} (default: {DEFAULTS[key]})")
    t.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    t.add_argument("--threads", type=int, help="CPU threads for torch")
    p = sub.add_parser("predict", help="segment with a trained model file")
    p.add_argument("--model", required=True, help="model file from 'segment train'")
    _common_out(p)
    p.add_argument("--tta", action="store_true", help="average the four flips (U-Net)")
    p.add_argument("--confidence", help="also write the chosen class's probability (uint8/255)")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    o = sub.add_parser("otsu", help="segment by multi-Otsu thresholds")
    _common_out(o)
    o.add_argument("--phases", type=_phases, default=None,
                   help="phases dark to bright (default pore=0,cbd=1,nmc=2)")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; errors are TomosnakeError subclasses."""
    from tomosnake.segment import segment_volume, train_model
    from tomosnake.segment.modelfile import load_model

    if args.action == "train":
        keys = [flag[2:].replace("-", "_") for flag, _, _ in _TRAIN_FLAGS]
        settings = {k: getattr(args, k) for k in keys} | {"method": args.method}
        model = train_model(
            args.data, args.out, phases=args.phases, ignore_value=args.ignore_value,
            device=args.device, threads=args.threads, **settings,
        )
        print(f"wrote {args.out}: {model.kind} model, phases {model.phases}")
        return 0
    z_range = tuple(args.z_range) if args.z_range else None
    if args.action == "predict":
        model = load_model(args.model)
        segment_volume(
            args.input, args.output, method="cnn" if model.kind == "unet" else "rf",
            model_path=args.model, chunk_z=args.chunk_z, z_range=z_range, tta=args.tta,
            confidence_path=args.confidence, device=args.device,
        )
    else:
        segment_volume(args.input, args.output, method="otsu", phases=args.phases,
                       chunk_z=args.chunk_z, z_range=z_range)
    print(f"wrote {args.output}")
    return 0
