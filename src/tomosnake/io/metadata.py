"""Header facts of a raw scan (:class:`~tomosnake.io.scaninfo.ScanInfo`), cached per scan.

:func:`scan_info` opens the scan with its block reader (:func:`tomosnake.io.open_scan`), which
reads headers and small metadata datasets only, never pixel data. With ``cache_dir`` the
answer is kept as one small JSON file per scan and reused while the files it came from are
unchanged, so re-checking a 200-scan beamtime reads nothing but ``stat`` results.

Cache entry (``{cache_dir}/{sha256(absolute path, format)[:24]}.json``)::

    {"cache": "tomosnake.scaninfo-cache/1", "path": "/abs/scan.nxs", "fmt": "auto",
     "deps": [["/abs/scan.nxs", [size, mtime_ns]], ["/abs/scan/data.h5", [...]], ...],
     "info": {...ScanInfo.to_dict()...}}          # or "error": [class name, message]

``deps`` lists every file the facts came from (a NeXus master and the files its external
links lead to; a TIFF-stack folder stands for the names, sizes and mtimes of its entries).
An entry is used only when every dependency's signature is unchanged. Unreadable scans are
cached too (their error is raised again), so a broken file does not slow every re-check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from tomosnake.errors import ConfigError, InputError
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.io.volume import atomic_output

log = logging.getLogger(__name__)

CACHE_VERSION = "tomosnake.scaninfo-cache/1"
_ERRORS: dict[str, type[Exception]] = {"InputError": InputError, "ConfigError": ConfigError}


def signature(path: str | os.PathLike[str]) -> list[int] | str | None:
    """What changes when ``path`` changes: [size, mtime_ns] of a file; for a folder a hash of
    its entries' names, sizes and mtimes; None if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return [st.st_size, st.st_mtime_ns]
    digest = hashlib.sha256()
    with os.scandir(path) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                est = entry.stat()
            except OSError:
                continue
            digest.update(f"{entry.name}\0{est.st_size}\0{est.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_info(path: str | os.PathLike[str], fmt: str = "auto") -> tuple[ScanInfo, list[Path]]:
    """The scan's ScanInfo (no cache) and the files/folders it was read from."""
    from tomosnake.io.readscan import open_scan

    with open_scan(path, fmt) as reader:
        return reader.info, [Path(d) for d in reader.deps]


def scan_info(
    path: str | os.PathLike[str], fmt: str = "auto", cache_dir: str | os.PathLike[str] | None = None
) -> ScanInfo:
    """Header facts of the raw scan at ``path`` (file or TIFF-stack folder).

    Args:
        path: the scan.
        fmt: ``"auto"`` or a format name (see :func:`tomosnake.io.open_scan`).
        cache_dir: folder of the metadata cache (created if needed); None reads every time.

    Returns:
        ScanInfo whose ``problems`` list what the headers show wrong (wrong angle count, no
        flats/darks, frames of other sizes, non-numeric dtype, truncated or incomplete data).

    Raises:
        InputError: the scan is missing or unreadable (no shape can be known).
        ConfigError: the format is unknown.
    """
    if cache_dir is None:
        return read_info(path, fmt)[0]
    absolute = os.path.abspath(path)  # read by absolute path: messages name it
    key = hashlib.sha256(f"{absolute}\0{fmt}".encode()).hexdigest()[:24]
    entry_file = Path(cache_dir) / f"{key}.json"
    entry = _load(entry_file, absolute, fmt)
    if entry is not None:
        if "error" in entry:
            name, message = entry["error"]
            raise _ERRORS[name](message)
        return dataclasses.replace(ScanInfo.from_dict(entry["info"]), source=str(path))
    entry: dict[str, Any] = {"cache": CACHE_VERSION, "path": absolute, "fmt": fmt}
    before = signature(absolute)
    deps = [Path(absolute)]
    try:
        info, deps = read_info(absolute, fmt)
    except (InputError, ConfigError) as exc:
        entry["error"] = [type(exc).__name__, str(exc)]
        _store(entry_file, entry, deps, before)
        raise
    entry["info"] = info.to_dict()
    _store(entry_file, entry, deps, before)
    return dataclasses.replace(info, source=str(path))


def _load(entry_file: Path, absolute: str, fmt: str) -> dict[str, Any] | None:
    """The cache entry if it is for this scan and every dependency is unchanged, else None."""
    try:
        entry = json.loads(entry_file.read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(entry, dict)
        or entry.get("cache") != CACHE_VERSION
        or entry.get("path") != absolute
        or entry.get("fmt") != fmt
        or not entry.get("deps")
    ):
        return None
    for dep, sig in entry["deps"]:
        if signature(dep) != sig:
            return None
    if "error" in entry and entry["error"][0] in _ERRORS:
        return entry
    return entry if "info" in entry else None


def _store(entry_file: Path, entry: dict[str, Any], deps: list[Path], before: Any) -> None:
    """Write the entry with its dependencies' signatures, unless the scan changed while it
    was read (``before``: the scan's signature before reading)."""
    entry["deps"] = [[str(Path(d).absolute()), signature(d)] for d in deps]
    if entry["deps"][0][1] != before:
        return
    try:
        entry_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(entry_file) as tmp:
            tmp.write_text(json.dumps(entry))
    except OSError as exc:  # a read-only cache costs speed, not correctness
        log.warning("scan metadata cache %s not written: %s", entry_file, exc)
