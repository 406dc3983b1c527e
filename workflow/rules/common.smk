# Bookkeeping done once: the beamtime (config, scan sheet, the raw files' header facts, the job
# layout of every scan), checked before any job runs; wildcard constraints, input functions,
# resources and code fingerprints.
import re
from pathlib import Path

from tomosnake.beamtime import Beamtime
from tomosnake.preflight import DEFAULT_CACHE
from tomosnake.provenance import code_fingerprint
from tomosnake.training import MODEL_PATTERN as MODEL, TRAIN_KEYS

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
    group=r"[A-Za-z0-9][A-Za-z0-9_-]*",


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
    """A scan's reconstruction and, for cnn/rf, its model (its group's, or segment.model)."""
    inputs = {"recon": IMAGE0.format(scan=wildcards.scan)}
    model = BT.model_of(wildcards.scan)
    if model:
        inputs["model"] = model
    return inputs


def segment_params(wildcards):
    """The segment settings a scan's slab jobs use (otsu: the method alone)."""
    seg = SETTINGS[wildcards.scan]["segment"]
    keys = (
        ("method", "tta", "low_confidence")
        if BT.model_of(wildcards.scan)
        else ("method",)
    )
    return {k: seg[k] for k in keys}


def training(method):
    """Input functions (inputs, params) of a group's model training for ``method``: the
    reconstructions and label files of its labelled scans, the truth of its simulated ones.
    """

    def of(wildcards):
        return BT.models[MODEL.format(group=wildcards.group, method=method)]

    def inputs(wildcards):
        from tomosnake.segment.labels import label_files

        ts = of(wildcards)
        return {
            "recon": [IMAGE0.format(scan=s) for s in ts.scans],
            "labels": [f for _, src in ts.labelled for f in label_files(src)],
            "truth": [BT.truth_of(s) for s in ts.simulated],
        }

    def params(wildcards):
        ts = of(wildcards)
        seg = config["segment"]
        keys = TRAIN_KEYS if method == "cnn" else ("seed",)
        out = {
            "method": method,
            "labelled": [[IMAGE0.format(scan=s), src] for s, src in ts.labelled],
            "simulated": [
                [IMAGE0.format(scan=s), BT.truth_of(s)] for s in ts.simulated
            ],
            **{k: seg[k] for k in keys},
        }
        if ts.labelled:
            out.update(
                label_phases=seg["label_phases"],
                label_unlabelled=seg["label_unlabelled"],
            )
        if ts.simulated:
            out["train_slices"] = seg["train_slices"]
        return out

    return inputs, params


def per_scan(pattern, scans=None):
    return [pattern.format(scan=s) for s in (SCANS if scans is None else scans)]


def all_outputs():
    return [
        "results/summary.csv",
        "results/report.html",
        *per_scan(f"{OME}/zarr.json"),
        *per_scan("results/{scan}/meshes"),
    ]
