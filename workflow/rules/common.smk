# Bookkeeping done once: validate config and scan sheet, build per-scan stage settings,
# wildcard constraints and input functions.
import hashlib
import re
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the library of this checkout

from tomosnake.scansheet import read_scan_sheet, scan_settings, training_scans

SCHEMA_DIR = Path(workflow.basedir) / "workflow" / "schemas"
SIM_PATTERN = re.compile(r"^resources/sim/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*?)(?P<tiff>_tiff)?(\.h5)?$")


validate(config, str(SCHEMA_DIR / "config.schema.yaml"))


SCANS = read_scan_sheet(config["scans"], SCHEMA_DIR / "scans.schema.yaml")
SETTINGS = {s: scan_settings(config, row, SCHEMA_DIR / "config.schema.yaml") for s, row in SCANS.items()}


wildcard_constraints:
    scan="|".join(re.escape(s) for s in SCANS),
    slab=r"\d+",
    name="|".join(re.escape(n) for n in config["simulate"]) or "(?!)",


def sim_name(path):
    """Name of the simulated scan a raw path refers to, or None for real data."""
    m = SIM_PATTERN.match(path)
    return m.group("name") if m and m.group("name") in config["simulate"] else None


def get_raw(wildcards):
    return SCANS[wildcards.scan]["path"]


def truth_of(scan):
    """Ground-truth store written by the simulator beside a simulated scan."""
    path = Path(SCANS[scan]["path"])
    return str(path.with_name(f"{path.name.removesuffix('.h5')}_truth.zarr"))


def get_truth(wildcards):
    return truth_of(wildcards.scan)


def simulated_scans():
    return [s for s, row in SCANS.items() if sim_name(row["path"])]


TRAIN_SCANS = training_scans(config, SCANS, SETTINGS, set(simulated_scans()))


def stage_params(stage):
    """Input function: this scan's settings of one stage (rerun trigger 'params')."""

    def params(wildcards):
        return SETTINGS[wildcards.scan][stage]

    return params


def segment_params(wildcards):
    """What a segmentation chunk uses (rerun trigger 'params'); the training settings reach
    CNN scans through the model file, so changing them leaves other scans alone."""
    seg = SETTINGS[wildcards.scan]["segment"]
    return {"method": seg["method"], "chunks": seg["chunks"]}


def n_slabs(scan, stage):
    return SETTINGS[scan][stage]["slabs" if stage == "recon" else "chunks"]


def recon_slabs(wildcards):
    n = n_slabs(wildcards.scan, "recon")
    return [f"results/{wildcards.scan}/recon.slabs/{i}.zarr" for i in range(n)]


def label_slabs(wildcards):
    n = n_slabs(wildcards.scan, "segment")
    return [f"results/{wildcards.scan}/labels.slabs/{i}.zarr" for i in range(n)]


def segment_inputs(wildcards):
    inputs = {"recon": f"results/{wildcards.scan}/recon.zarr"}
    method = SETTINGS[wildcards.scan]["segment"]["method"]
    if method != "otsu":
        inputs["model"] = f"results/models/segment_{method}.pt"
    return inputs


def script_sha256(name):
    """Hash of a workflow script. Slab stores are temp(): once merged they are gone, so
    Snakemake cannot see that a slab rule's code changed; the merge rule carries the slab
    script's hash as a param, so editing it reruns the fan-out and what follows."""
    return hashlib.sha256((Path(workflow.basedir) / "workflow" / "scripts" / name).read_bytes()).hexdigest()


def per_scan(pattern, scans=None):
    return [pattern.format(scan=s) for s in (SCANS if scans is None else scans)]


def all_outputs():
    return [
        "results/summary.csv",
        "results/report.html",
        *per_scan("results/{scan}/scan.ome.zarr"),
        *per_scan("results/{scan}/meshes"),
    ]
