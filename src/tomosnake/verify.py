"""Input fingerprints recorded in outputs, and ``tomosnake verify RESULTS_DIR``.

Every per-scan output written by :mod:`tomosnake.pipeline` records the fingerprint
of the inputs it was made from (zarr stores: attribute ``inputs``; JSON files: key
``inputs``). ``verify`` walks a results folder and reports outputs that are
incomplete (interrupted writes, missing or corrupt chunks, unreadable JSON) or
stale (an input's fingerprint no longer matches).

A fingerprint is the byte size and SHA-256 of a file (of its first and last MiB
for files over 256 MiB, with the size: raw scans can be hundreds of GB), or for a
directory (zarr store) the SHA-256 over its files' relative paths, sizes and the
contents of its ``zarr.json`` metadata files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zarr

from tomosnake.errors import InputError

SAMPLE_OVER = 256 * 2**20
SAMPLE = 2**20
STORES = ("prep.zarr", "scan.ome.zarr/0", "scan.ome.zarr/labels/phases/0")
JSONS = ("center.json", "segment_qc.json", "morphology.json", "truth_check.json")


def fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Fingerprint of a file or directory (see module docstring)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or directory")
    digest = hashlib.sha256()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        total = 0
        for f in files:
            size = f.stat().st_size
            total += size
            digest.update(f"{f.relative_to(p)}\0{size}\0".encode())
            if f.name == "zarr.json":
                digest.update(f.read_bytes())
        return {"kind": "dir", "files": len(files), "size": total, "sha256": digest.hexdigest()}
    size = p.stat().st_size
    with open(p, "rb") as fh:
        if size > SAMPLE_OVER:
            digest.update(fh.read(SAMPLE))
            fh.seek(size - SAMPLE)
            digest.update(fh.read(SAMPLE))
        else:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return {"kind": "file", "size": size, "sha256": digest.hexdigest()}


def input_record(inputs: Iterable[str | os.PathLike[str]]) -> dict[str, dict[str, Any]]:
    """``{path: fingerprint}`` for the given inputs (paths as given, relative stays relative)."""
    return {str(p): fingerprint(p) for p in inputs}


@dataclass
class Problem:
    """One finding of :func:`verify`: the output, what is wrong, and why."""

    output: str
    status: str  # "incomplete" | "stale" | "missing-input" | "unrecorded"
    detail: str


def _recorded(path: Path) -> dict[str, Any] | None:
    if path.suffix == ".json":
        return json.loads(path.read_text()).get("inputs")
    return dict(zarr.open(store=str(path), mode="r").attrs).get("inputs")


def _complete(path: Path) -> str | None:
    """None if ``path`` reads back whole, else why not."""
    from tomosnake.io.volume import check_zarr_array

    try:
        if path.suffix == ".json":
            json.loads(path.read_text())
            return None
        node = zarr.open(store=str(path), mode="r")
        arrays = [node] if isinstance(node, zarr.Array) else [a for _, a in node.arrays()]
        for arr in arrays:
            check_zarr_array(arr, str(path), verify=True)
    except InputError as exc:
        return str(exc)
    except Exception as exc:  # unreadable metadata, bad JSON
        return f"{path}: unreadable ({type(exc).__name__}: {exc})"
    return None


def verify(results: str | os.PathLike[str], base: str | os.PathLike[str] = ".") -> list[Problem]:
    """Check every per-scan output under ``results``; input paths resolve against ``base``."""
    results, base = Path(results), Path(base)
    if not results.is_dir():
        raise InputError(f"{results}: not a results folder")
    problems: list[Problem] = []
    for scan_dir in sorted(d for d in results.iterdir() if d.is_dir()):
        for tmp in sorted(scan_dir.rglob(".*.tmp-*")):
            problems.append(Problem(str(tmp), "incomplete", "left by an interrupted write"))
        for name in (*STORES, *JSONS):
            out = scan_dir / name
            if not out.exists():
                continue
            why = _complete(out)
            if why:
                problems.append(Problem(str(out), "incomplete", why))
                continue
            recorded = _recorded(out)
            if not recorded:
                problems.append(Problem(str(out), "unrecorded", "no input fingerprints stored"))
                continue
            for src, fp in recorded.items():
                path = Path(src) if Path(src).is_absolute() else base / src
                if not path.exists():
                    problems.append(Problem(str(out), "missing-input", f"{src} is gone"))
                elif fingerprint(path)["sha256"] != fp.get("sha256"):
                    problems.append(Problem(str(out), "stale", f"{src} changed since it was made"))
    return problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``tomosnake verify``."""
    parser.add_argument("results", help="results folder of a beamtime (e.g. results)")
    parser.add_argument("--base", default=".", help="folder relative input paths start from")


def run(args: argparse.Namespace) -> int:
    """Print one line per problem; exit 1 if any, 0 if every output checks out."""
    problems = verify(args.results, args.base)
    for p in problems:
        print(f"{p.status:<14} {p.output}: {p.detail}")
    if not problems:
        print(f"{args.results}: all outputs complete and up to date")
    return 1 if problems else 0
