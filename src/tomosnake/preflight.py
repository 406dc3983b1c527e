"""Preflight: every problem the inputs' metadata can show, for every scan, before any job.

A beamtime of 200 scans must not fail one scan at a time after hours of queue and GPU time.
:func:`check_beamtime` reads each scan's header facts (:func:`tomosnake.io.scan_info`: HDF5
and NeXus headers, TIFF tags, Xradia streams, never pixel data; cached per scan) and checks
them against the scan's settings:

- the file is readable in its format, with a numeric detector dtype and complete data;
- one rotation angle per projection;
- flat and dark fields present, unless the fallback is chosen explicitly:
  ``preprocess.no_flats`` (``error`` | ``row_bright`` | ``normalised``) and
  ``preprocess.no_darks`` (``error`` | ``zero``);
- a voxel size (the file's pixel size or the sheet's ``voxel_size_um``) when a metric in
  micrometres is requested (``surface``, ``sizes``; ``fractions``, ``connectivity`` and
  ``tortuosity`` are dimensionless);
- ``recon.crop`` at most the detector width (twice that for a 360-degree scan, which may be a
  half acquisition stitched to double width);
- the job layout (``layout.slab_rows``/``layout.slabs``) possible for the scan's rows;
- a ``morph.sample`` box or cylinder inside the reconstructed volume.

Every problem of every scan is collected (:class:`Problem`: scan, file, problem, fix);
:func:`format_problems` prints them as one table and :func:`preflight` raises one
:class:`PreflightError` listing them all.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

from tomosnake.config import defaults
from tomosnake.errors import ConfigError, InputError, TomosnakeError
from tomosnake.io.metadata import scan_info
from tomosnake.io.reader import missing_frames
from tomosnake.io.scaninfo import ScanInfo
from tomosnake.layout import ROW_CHUNK, plan_scan
from tomosnake.morph.settings import metrics_needing_units
from tomosnake.preprocess.pipeline import NO_DARKS, NO_FLATS

#: the header-fact cache (:mod:`tomosnake.io.metadata`) that `tomosnake check` and the
#: workflow share, relative to the working directory
DEFAULT_CACHE = ".tomosnake/cache"
#: where simulated scans live (the workflow's simulate rules write them)
SIM_PATTERN = re.compile(
    r"^resources/sim/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*?)(?P<tiff>_tiff)?(\.h5)?$"
)


class Problem(NamedTuple):
    """One thing wrong with one scan: where, what, and how to fix it."""

    scan: str
    file: str
    problem: str
    fix: str


class PreflightError(TomosnakeError):
    """The beamtime has problems; ``problems`` lists them, the message is their table."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(format_problems(problems))


#: (pattern of a reader's problem sentence, how to fix it), first match wins
_FIXES = (
    (r"no such file", "correct the path in the scan sheet (relative to the working directory)"),
    (
        r"unrecognised|unknown scan format|not a recognised|neither /exchange/data",
        "set the sheet's format column (dxchange, nexus, tiff, txrm, xrm) or convert the scan",
    ),
    (
        r"angles? but|angles, expected|angles for|no rotation angles|no angles|angle units"
        r"|(theta|[Aa]ngles).*NaN/inf",
        "give the scan one finite rotation angle per projection (re-export it, or fix its angle "
        "dataset / scan.json angles_deg)",
    ),
    (
        r"truncated|corrupt|not a readable|unreadable|incomplete|not written|cannot read",
        "the file is damaged or incomplete: copy it again from the beamline storage (compare "
        "checksums) or remove the scan from the sheet",
    ),
    (
        r"frame is|frames are|fields have shape|frame \d+ .* is missing|expected one 2-D frame",
        "every frame must have the projections' shape and dtype, numbered without gaps: "
        "re-export the odd or missing frames",
    ),
    (r"integer or float", "convert the detector data to an integer or real float type"),
    (
        r"external link",
        "keep the NeXus master beside the files it links to (or allow their folder)",
    ),
)


def _fix(problem: str) -> str:
    for pattern, fix in _FIXES:
        if re.search(pattern, problem):
            return fix
    return "check the file in its acquisition software, or remove the scan from the sheet"


def simulated_infos(
    config: Mapping[str, Any], sheet: Mapping[str, Mapping[str, Any]]
) -> dict[str, ScanInfo]:
    """ScanInfo of the sheet's simulated scans (path ``resources/sim/NAME.h5`` or
    ``resources/sim/NAME_tiff`` with NAME in ``config["simulate"]``), from their settings:
    the files need not exist yet."""
    sims = config.get("simulate") or {}
    found = {}
    for scan, row in sheet.items():
        m = SIM_PATTERN.match(str(row["path"]))
        if m and m.group("name") in sims:
            found[scan] = (row["path"], m["name"])
    if not found:
        return {}
    from tomosnake.synth import make_spec

    infos = {}
    for scan, (path, name) in found.items():
        spec = make_spec(**sims[name])
        n, span = spec.n_angles, spec.theta_range_deg
        infos[scan] = ScanInfo(
            source=str(path),
            format="simulated",
            n_proj=n,
            n_rows=spec.phantom.shape[0],
            n_cols=spec.detector_width,
            dtype="uint16",
            n_theta=n,
            theta_first_deg=0.0,
            theta_last_deg=span * (n - 1) / n,
            theta_span_deg=span,
            n_flat=spec.n_flats,
            n_dark=spec.n_darks,
            pixel_size_um=spec.pixel_size_um,
            energy_kev=spec.energy_kev,
        )
    return infos


def _read_all(
    sheet: Mapping[str, Mapping[str, Any]],
    cache_dir: str | os.PathLike[str] | None,
    simulated: Mapping[str, ScanInfo],
) -> tuple[dict[str, ScanInfo], list[Problem]]:
    """Header facts of every scan; unreadable scans become problems."""
    infos: dict[str, ScanInfo] = {}
    problems: list[Problem] = []
    for scan, row in sheet.items():
        path = str(row["path"])
        if scan in simulated:
            infos[scan] = simulated[scan]
            continue
        try:
            infos[scan] = scan_info(path, row.get("format") or "auto", cache_dir)
        except (InputError, ConfigError) as exc:
            problems.append(Problem(scan, path, str(exc), _fix(str(exc))))
    return infos, problems


def check_scan(
    scan: str,
    info: ScanInfo,
    row: Mapping[str, Any],
    settings: Mapping[str, Mapping[str, Any]],
    layout: Mapping[str, Any] | None = None,
    sheet: Collection[str] = (),
) -> list[Problem]:
    """Problems of one readable scan: its header problems and its settings against its shape.

    Args:
        scan: scan id. info: its header facts. row: its scan-sheet row (``path``,
            ``voxel_size_um``...). settings: its per-stage settings (``preprocess``,
            ``recon``, ``segment``, ``morph``, optionally ``layout``).
        layout: the ``layout`` settings when ``settings`` has none.
        sheet: every scan id of the sheet (labels exported from another scan are named).
    """
    file = str(row.get("path", info.source))
    out: list[Problem] = []

    def add(problem: str, fix: str) -> None:
        out.append(Problem(scan, file, problem, fix))

    pre = settings.get("preprocess", {})
    recon = settings.get("recon", {})
    morph = settings.get("morph", {})
    for problem in info.problems:
        if missing_frames(problem) is None:
            add(problem, _fix(problem))
    _check_fallbacks(info, pre, add)
    needs = metrics_needing_units(morph.get("metrics", defaults("morph")["metrics"]))
    voxel = row.get("voxel_size_um") or info.pixel_size_um
    if needs and not voxel:
        add(
            f"no voxel size: the file carries no pixel size and the scan sheet gives no "
            f"voxel_size_um, but morph.metrics {needs} report micrometres",
            "add a voxel_size_um column to the scan sheet for this scan, or drop "
            f"{' and '.join(needs)} from morph.metrics (fractions, connectivity and tortuosity "
            "need no unit)",
        )
    wide = info.theta_span_deg is not None and info.theta_span_deg >= 359.0
    width = info.n_cols * (2 if wide else 1)
    crop = recon.get("crop")
    if crop is not None and crop > width:
        detail = " (twice the detector: a 360-degree half acquisition)" if wide else ""
        add(
            f"recon.crop {crop} is wider than the reconstruction can be: {width} pixels{detail}",
            f"set recon.crop <= {width} for this scan (sheet column recon.crop), or null for "
            "the whole field",
        )
    _check_layout(info, settings.get("layout", layout) or {}, add)
    out_width = crop or width
    _check_sample(morph.get("sample"), (info.n_rows, out_width, out_width), add)
    seg = settings.get("segment")
    if seg and (seg.get("labels") or seg.get("model")):
        from tomosnake.training import check_labels

        known = crop or (None if wide else width)
        for problem in check_labels(scan, seg, (info.n_rows, known, known), sheet):
            out.append(Problem(scan, problem.split(":")[0], problem,
                               "fix or re-export the labels (tomosnake label check SOURCE "
                               "--volume results/SCAN/scan.ome.zarr/0), or correct the sheet's "
                               "segment.labels / segment.model"))
    return out


def _check_fallbacks(info: ScanInfo, pre: Mapping[str, Any], add: Any) -> None:
    for kind, count, key, allowed, fix in (
        (
            "flat",
            info.n_flat,
            "no_flats",
            NO_FLATS,
            "add flat fields to the scan, or choose a fallback for it: preprocess.no_flats: "
            "row_bright (each row divided by its brightest values: the sample must leave air "
            "beside it) or normalised (the projections are already flat-field corrected)",
        ),
        (
            "dark",
            info.n_dark,
            "no_darks",
            NO_DARKS,
            "add dark fields to the scan, or set preprocess.no_darks: zero (no dark current "
            "subtracted; right for detectors that subtract their own offset, e.g. Zeiss)",
        ),
    ):
        mode = pre.get(key, "error")
        if kind == "dark" and info.n_flat == 0 and pre.get("no_flats") == "normalised":
            continue  # normalised transmission: nothing to subtract
        if mode not in allowed:
            add(
                f"preprocess.{key} {mode!r} is not one of {list(allowed)}",
                f"set preprocess.{key} to one of {', '.join(allowed)}",
            )
        elif count == 0 and mode == "error":
            said = [p for p in info.problems if missing_frames(p) == kind]
            add(said[0] if said else f"{info.source}: no {kind} fields", fix)


def _check_layout(info: ScanInfo, layout: Mapping[str, Any], add: Any) -> None:
    try:
        plan_scan(info, layout)
    except ConfigError as exc:
        add(str(exc), "set layout.slab_rows (rows per job) >= 1, or drop layout.slabs")
        return
    most = -(-info.n_rows // ROW_CHUNK)
    slabs = layout.get("slabs")
    if slabs is not None and slabs > most:
        add(
            f"layout.slabs {slabs}: a scan of {info.n_rows} rows splits into at most {most} "
            f"slabs of {ROW_CHUNK} rows",
            f"set layout.slabs <= {most}, or use layout.slab_rows instead",
        )


def _check_sample(sample: Any, shape: tuple[int, int, int], add: Any) -> None:
    """``morph.sample`` box/cylinder inside a (z, y, x) volume of ``shape``."""
    if not sample:
        return
    fix = (
        f"give morph.sample a region inside the reconstructed volume (z, y, x) = {shape}, or "
        "mode: auto"
    )
    if not isinstance(sample, Mapping):
        add(f"morph.sample {sample!r}: expected a mapping with a mode", fix)
        return
    mode = sample.get("mode", "auto")
    if mode in ("auto", "none"):
        return
    if mode == "box":
        box = sample.get("box")
        ok = (
            isinstance(box, list | tuple)
            and len(box) == 3
            and all(
                isinstance(r, list | tuple) and len(r) == 2 and 0 <= r[0] < r[1] <= n
                for r, n in zip(box, shape, strict=True)
            )
        )
        if not ok:
            add(f"morph.sample box {box!r} is not inside the volume {shape} (z, y, x)", fix)
        return
    if mode == "cylinder":
        cyl = sample.get("cylinder") or {}
        try:
            (y, x), r = cyl["center_yx"], float(cyl["radius"])
            z0, z1 = cyl.get("z") or (0, shape[0])
            inside = (
                r > 0
                and 0 <= z0 < z1 <= shape[0]
                and 0 <= y - r
                and y + r <= shape[1]
                and 0 <= x - r
                and x + r <= shape[2]
            )
        except (KeyError, TypeError, ValueError):
            inside = False
        if not inside:
            add(
                f"morph.sample cylinder {dict(cyl)!r} is not inside the volume {shape} (z, y, x)",
                fix,
            )
        return
    add(f"morph.sample mode {mode!r} is not one of auto, none, box, cylinder", fix)


def collect(
    config: Mapping[str, Any],
    sheet: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]],
    cache_dir: str | os.PathLike[str] | None = None,
    simulated: Mapping[str, ScanInfo] | None = None,
) -> tuple[dict[str, ScanInfo], list[Problem]]:
    """Every readable scan's ScanInfo and every problem (arguments as :func:`check_beamtime`)."""
    infos, unreadable = _read_all(sheet, cache_dir, simulated or {})
    problems = {p.scan: [p] for p in unreadable}
    for scan, info in infos.items():
        problems[scan] = check_scan(
            scan, info, sheet[scan], settings.get(scan, {}), config.get("layout"), sheet
        )
    ordered = [p for scan in sheet for p in problems.get(scan, [])]
    return infos, ordered


def check_beamtime(
    config: Mapping[str, Any],
    sheet: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]],
    cache_dir: str | os.PathLike[str] | None = None,
    simulated: Mapping[str, ScanInfo] | None = None,
) -> list[Problem]:
    """Every problem of every scan, in sheet order (empty: the beamtime can run).

    Args:
        config: the validated config (``tomosnake.config.load_config``), for ``layout``.
        sheet: scan id -> scan-sheet row (``tomosnake.scansheet.read_scan_sheet``).
        settings: scan id -> per-stage settings (``tomosnake.scansheet.scan_settings``).
        cache_dir: metadata cache folder (see :mod:`tomosnake.io.metadata`), or None.
        simulated: scan id -> ScanInfo of scans not on disk yet (:func:`simulated_infos`).
    """
    return collect(config, sheet, settings, cache_dir, simulated)[1]


def preflight(
    config: Mapping[str, Any],
    sheet: Mapping[str, Mapping[str, Any]],
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]],
    cache_dir: str | os.PathLike[str] | None = None,
    simulated: Mapping[str, ScanInfo] | None = None,
) -> dict[str, ScanInfo]:
    """:func:`check_beamtime`, raising one :class:`PreflightError` listing every problem;
    returns every scan's ScanInfo (what job sizing needs) when there are none."""
    infos, problems = collect(config, sheet, settings, cache_dir, simulated)
    if problems:
        raise PreflightError(problems)
    return infos


def _short(problem: Problem) -> str:
    """The problem without its leading file name (the table's file column names it)."""
    text = problem.problem
    for prefix in (problem.file, os.path.abspath(problem.file)):
        if prefix and text.startswith(prefix) and text[len(prefix) : len(prefix) + 1] in ":/ ":
            return text[len(prefix) :].lstrip(": ") or text
    return text


def format_problems(problems: list[Problem], width: int = 110) -> str:
    """One table of the problems: scan, file, problem, fix (long cells wrapped)."""
    if not problems:
        return "no problems found"
    scans = len({p.scan for p in problems})
    rows = [("scan", "file", "problem", "how to fix")] + [
        (p.scan, p.file, _short(p), p.fix) for p in problems
    ]
    w_scan = min(24, max(len(r[0]) for r in rows))
    w_file = min(40, max(len(r[1]) for r in rows))
    w_text = max(30, (width - w_scan - w_file - 13) // 2)
    rule = f"+-{'-' * w_scan}-+-{'-' * w_file}-+-{'-' * w_text}-+-{'-' * w_text}-+"
    lines = [f"{len(problems)} problem(s) in {scans} scan(s):", rule]
    for scan, file, text, fix in rows:
        cells = [
            textwrap.wrap(c, w, break_long_words=True, break_on_hyphens=False) or [""]
            for c, w in ((scan, w_scan), (file, w_file), (text, w_text), (fix, w_text))
        ]
        for j in range(max(len(c) for c in cells)):
            parts = [c[j] if j < len(c) else "" for c in cells]
            lines.append(
                f"| {parts[0]:<{w_scan}} | {parts[1]:<{w_file}} | {parts[2]:<{w_text}} "
                f"| {parts[3]:<{w_text}} |"
            )
        lines.append(rule)
    return "\n".join(lines)
