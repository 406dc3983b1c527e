"""The ``tomosnake`` command line: one subcommand per stage.

Each subcommand lives in its stage's module, which provides
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
for the subcommand that runs, so ``tomosnake --help`` stays fast (no torch).
Errors of type :class:`~tomosnake.errors.TomosnakeError` are printed as one
line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from tomosnake import __version__
from tomosnake.errors import TomosnakeError

#: subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("tomosnake.synth.cli", "simulate a beamtime scan of an NMC-like cathode phantom"),
    "ingest": ("tomosnake.io.cli", "read a raw scan (DXchange, NeXus, TIFF, txrm) into raw.zarr"),
    "recon": ("tomosnake.recon.cli", "normalise, find the centre and reconstruct a raw scan"),
    "segment": ("tomosnake.segment.cli", "train a segmentation model or segment a volume"),
    "label": ("tomosnake.segment.label_cli", "export slices to paint; check painted labels"),
    "morph": ("tomosnake.morph.cli", "quantify a labelled volume (fractions, areas, tortuosity)"),
    "report": ("tomosnake.viz.report_cli", "rebuild results/report.html from existing results"),
    "view": ("tomosnake.viz.view_cli", "print how to open a scan's OME-Zarr in napari"),
    "verify": ("tomosnake.verify", "report outputs that are incomplete or no longer match inputs"),
    "check": ("tomosnake.check_cli", "check every scan of a beamtime before running (preflight)"),
    "export": ("tomosnake.export_cli", "write a volume of a scan's OME-Zarr as a TIFF stack"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<10} {help_}" for name, (_, help_) in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="tomosnake",
        description="Nano-CT beamtime to microstructure numbers.",
        epilog=f"stages:\n{lines}\n\nRun 'tomosnake STAGE --help' for a stage's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tomosnake`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = _top_parser()
    top.add_argument("--version", action="version", version=f"tomosnake {__version__}")
    top.add_argument("stage", choices=list(COMMANDS), metavar="STAGE")
    if not argv or argv[0] not in COMMANDS:
        top.parse_args(argv[:1] or ["--help"])
        return 2
    name = argv[0]
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"tomosnake {name}", description=COMMANDS[name][1])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(module.run(args) or 0)
    except TomosnakeError as exc:
        print(f"tomosnake {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tomosnake {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
