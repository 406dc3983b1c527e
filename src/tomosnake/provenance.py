"""Provenance of a beamtime's results: input hashes, software versions, git commit, step
times, and the fingerprint of the code each workflow step runs."""

from __future__ import annotations

import ast
import csv
import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tomosnake.verify import fingerprint

PACKAGES = ("tomosnake", "numpy", "scipy", "scikit-image", "zarr", "h5py", "torch", "snakemake")


def sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a small file's bytes (the config and scan sheet)."""
    return fingerprint(path)["sha256"]


def git_commit(repo: str | os.PathLike[str] = ".") -> str | None:
    """Commit of the workflow checkout (with ``-dirty`` if it has changes), or None."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=repo, capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str]:
    """Versions of Python and the main packages."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def step_times(results: str | os.PathLike[str]) -> dict[str, list[dict[str, Any]]]:
    """Per scan, the steps that ran and their wall time (s) and peak memory (MB).

    Reads Snakemake benchmark files ``results/benchmarks/{rule}/{scan}[.{slab}].tsv``.
    """
    steps: dict[str, list[dict[str, Any]]] = {}
    for tsv in sorted(Path(results, "benchmarks").glob("*/*.tsv")):
        with open(tsv) as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        scan, _, part = tsv.stem.partition(".")
        rec = {"rule": tsv.parent.name, "part": part or None, "seconds": float(rows[-1]["s"])}
        try:
            rec["max_rss_mb"] = float(rows[-1]["max_rss"])
        except (KeyError, ValueError):
            pass
        steps.setdefault(scan, []).append(rec)
    return steps


def collect_provenance(
    config: str | os.PathLike[str], scan_sheet: str | os.PathLike[str], results: str
) -> dict[str, Any]:
    """Everything the report shows about how the results were made."""
    return {
        "config": str(config),
        "config_sha256": sha256(config),
        "scan_sheet": str(scan_sheet),
        "scan_sheet_sha256": sha256(scan_sheet),
        "git_commit": git_commit(Path(config).resolve().parent),
        "versions": versions(),
        "steps": step_times(results),
    }


def _module_file(name: str) -> Path | None:
    """Source file of the tomosnake module ``name`` (found on disk, nothing imported), or
    None when ``name`` is not a module (an object imported from one)."""
    root = Path(__file__).resolve().parent
    parts = name.split(".")[1:]
    for path in (root.joinpath(*parts).with_suffix(".py"), root.joinpath(*parts, "__init__.py")):
        if parts and path.is_file() or not parts and path.name == "__init__.py":
            return path
    return None


def _imports(tree: ast.AST) -> set[str]:
    """tomosnake modules imported anywhere in ``tree`` (module level or inside functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "tomosnake":
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "tomosnake")
    return found


@functools.cache
def _file_imports(path: Path) -> frozenset[str]:
    return frozenset(_imports(ast.parse(path.read_text())))


@functools.cache
def _closure(module: str) -> frozenset[Path]:
    """Source files of ``module`` and of every tomosnake module it imports, transitively."""
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_file_imports(path))
        if name.count("."):
            todo.append(name.rsplit(".", 1)[0])  # importing a.b runs a/__init__.py
    return frozenset(seen.values())


@functools.cache
def _pipeline_source() -> tuple[list[str], ast.Module]:
    text = _module_file("tomosnake.pipeline").read_text()
    return text.splitlines(), ast.parse(text)


def code_fingerprint(step: str, extra_files: Iterable[str | os.PathLike[str]] = ()) -> str:
    """SHA-256 of the code a workflow step runs: the source of ``tomosnake.pipeline.<step>``,
    every tomosnake module imported by it or by ``pipeline``'s module level (transitively),
    and ``extra_files`` (its Snakemake scripts). Changing code another step runs leaves
    this fingerprint as it is."""
    text, tree = _pipeline_source()
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == step), None)
    if func is None:
        raise ValueError(f"tomosnake.pipeline has no step {step!r}")
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    helpers = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("_")]
    modules = _imports(ast.Module(body=[*top, func, *helpers], type_ignores=[]))
    files = set().union(*(_closure(m) for m in modules)) if modules else set()
    digest = hashlib.sha256("\n".join(text[func.lineno - 1 : func.end_lineno]).encode())
    for path in sorted(files | {Path(f) for f in extra_files}):
        digest.update(str(path.name).encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()[:16]
