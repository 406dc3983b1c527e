# Bookkeeping done once: the beamtime (config, scan sheet, the raw files' header facts, the job
# layout of every scan), checked before any job runs; wildcard constraints, input functions,
# resources and code fingerprints.
import re
from pathlib import Path

from tomosnake.beamtime import Beamtime
from tomosnake.preflight import DEFAULT_CACHE
from tomosnake.provenance import code_fingerprint

# Validates config (workflow/schemas/config.schema.yaml, defaults filled in) and scan sheet,
# then checks every scan's headers: one error lists every problem, before any job.
BT = Beamtime(config, cache_dir=DEFAULT_CACHE)
BT.preflight()
config.update(BT.config)
SCANS = BT.scans
SETTINGS = BT.settings
#: temporary stores (ingest blocks, slab stores, prep.zarr unless kept) live under TMP
TMP = config["layout"]["scratch"] or "results"
KEEP_PREP = "prep" in config["layout"]["keep"]
PREP = "results/{scan}/prep.zarr" if KEEP_PREP else f"{TMP}/{{scan}}/prep.zarr"
OME = "results/{scan}/scan.ome.zarr"
IMAGE0 = f"{OME}/0"
LABELS0 = f"{OME}/labels/phases/0"
SCRIPTS = Path(workflow.current_basedir).parent / "scripts"


wildcard_constraints:
    scan="|".join(re.escape(s) for s in SCANS),
    i=r"\d+",
    level=r"[1-9]\d*",
    name="|".join(re.escape(n) for n in config["simulate"]) or "(?!)",


def get_raw(wildcards):
    return SCANS[wildcards.scan]["path"]


def get_truth(wildcards):
    return BT.truth_of(wildcards.scan)


def settings(stage, *keys):
    """Input function for params: these settings of a stage for the job's scan (changing
    them reruns that step, for that scan only)."""

    def params(wildcards):
        s = SETTINGS[wildcards.scan][stage]
        return {k: s[k] for k in keys} if keys else dict(s)

    return params


def parts(pattern, count):
    """Input function: the part stores (blocks or slabs) of the job's scan."""

    def inputs(wildcards):
        return [
            pattern.format(scan=wildcards.scan, i=i)
            for i in range(count(wildcards.scan))
        ]

    return inputs


def n_blocks(scan):
    return len(BT.layout(scan).blocks)


def n_slabs(scan):
    return len(BT.layout(scan).slabs)


def levels(scan):
    return BT.levels(scan)


def view_level(scan, max_width):
    """The coarsest pyramid level at most ``max_width`` voxels wide is enough to look at."""
    width, k = BT.out_width(scan), 0
    while width >> k > max_width and k + 1 < levels(scan):
        k += 1
    return k


def image_level(scan, k):
    return f"{OME}/{k}".format(scan=scan)


def label_level(scan, k):
    return f"{OME}/labels/phases/{k}".format(scan=scan)


def code(step, *scripts):
    """Fingerprint of the library code a step runs and of its scripts (a param: upgrading the
    code reruns the step and what follows; merge rules name their slab scripts too, since
    slab stores are temporary)."""
    return code_fingerprint(step, [SCRIPTS / s for s in scripts])


def job_resource(rule, what):
    """Resource callable from the scan's layout (tomosnake.layout.job_sizes); each retry asks
    for half as much again."""

    def value(wildcards, threads, attempt):
        mem_mb, runtime = BT.sizes(wildcards.scan, {rule: threads})[rule].attempt(
            attempt
        )
        return mem_mb if what == "mem_mb" else runtime

    return value


def gpu_env(path):
    """The CUDA build of a stage's environment (``STAGE-gpu.yaml``) when ``gpu_envs`` is set
    (profiles/slurm-gpu sets it), else the CPU one."""
    return path.replace(".yaml", "-gpu.yaml") if config["gpu_envs"] else path


def segment_inputs(wildcards):
    inputs = {"recon": IMAGE0.format(scan=wildcards.scan)}
    method = SETTINGS[wildcards.scan]["segment"]["method"]
    if method != "otsu":
        inputs["model"] = f"results/models/segment_{method}.pt"
    return inputs


def per_scan(pattern, scans=None):
    return [pattern.format(scan=s) for s in (SCANS if scans is None else scans)]


def all_outputs():
    return [
        "results/summary.csv",
        "results/report.html",
        *per_scan(f"{OME}/zarr.json"),
        *per_scan("results/{scan}/meshes"),
    ]
