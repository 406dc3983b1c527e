"""Glue for ``workflow/scripts``: logging to the rule's log file and clean failures.

A script does ``from tomosnake.smk import run_script`` and
``run_script(snakemake, lambda: library_call(...))``. The call runs with exactly the
rule's ``threads`` in every thread pool, and the log ends with the bytes the job read
(zarr chunks and raw frames, :mod:`tomosnake.io.iocount`) and wrote. A
:class:`~tomosnake.errors.TomosnakeError` is logged as one clear line (and to stderr) and
the job exits 1; other exceptions keep their traceback in the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from tomosnake.errors import TomosnakeError
from tomosnake.io import iocount
from tomosnake.threads import use_threads


def run_script(snakemake: Any, fn: Callable[[], Any]) -> None:
    """Run ``fn`` inside a Snakemake ``script:`` job with logging to ``snakemake.log[0]`` and
    exactly the job's ``threads`` in every thread pool (:func:`tomosnake.threads.use_threads`)."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log = logging.getLogger("tomosnake")
    log.info("rule %s, wildcards %s, threads %d", snakemake.rule, dict(snakemake.wildcards),
             snakemake.threads)
    start = io_counters()
    try:
        with use_threads(snakemake.threads), iocount.counting() as reads:
            fn()
    except TomosnakeError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except Exception:
        log.exception("unexpected failure in rule %s", snakemake.rule)
        raise
    end = io_counters()
    written = end - start if start is not None and end is not None else -1
    log.info("io: read %d bytes (zarr chunks %d, raw frames %d), wrote %d bytes",
             reads["zarr"] + reads["raw"], reads["zarr"], reads["raw"], written)


def io_counters() -> int | None:
    """Bytes this process has written so far through system calls (``wchar`` of
    /proc/self/io), or None where unavailable."""
    try:
        fields = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
    except OSError:
        return None
    return int(fields["wchar"])
