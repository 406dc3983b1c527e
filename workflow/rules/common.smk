# Bookkeeping done once: validate config and scan sheet, build per-scan stage settings,
# wildcard constraints and input functions.
import re
from pathlib import Path

import pandas as pd
import yaml
from jsonschema import Draft202012Validator
from snakemake.utils import validate

STAGES = ("preprocess", "recon", "segment", "morph")
SCHEMA_DIR = Path(workflow.basedir) / "workflow" / "schemas"
SIM_PATTERN = re.compile(r"^resources/sim/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*?)(?P<tiff>_tiff)?(\.h5)?$")


validate(config, str(SCHEMA_DIR / "config.schema.yaml"))


def _cell(value):
    """A scan-sheet cell as YAML scalar (so 128 -> int, auto -> str, null -> None)."""
    return yaml.safe_load(value) if value.strip() else None


def _read_scan_sheet(path):
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    sheet.columns = [c.strip() for c in sheet.columns]
    if "scan_id" not in sheet.columns:
        raise ValueError(f"{path}: scan sheet has no 'scan_id' column")
    dup = sheet["scan_id"][sheet["scan_id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"{path}: duplicated scan_id {sorted(set(dup))}")
    rows = {}
    for i, rec in enumerate(sheet.to_dict("records"), start=2):
        row = {k: _cell(v) for k, v in rec.items()}
        row = {k: v for k, v in row.items() if v is not None}
        row["scan_id"] = str(rec["scan_id"]).strip()
        try:
            validate(row, str(SCHEMA_DIR / "scans.schema.yaml"))
        except Exception as exc:
            raise ValueError(f"{path}, line {i} (scan {rec['scan_id']!r}): {exc}") from None
        rows[row["scan_id"]] = row
    if not rows:
        raise ValueError(f"{path}: scan sheet lists no scans")
    return rows


def _scan_settings(row):
    """Config stage sections with this scan's SECTION.KEY overrides, validated."""
    schema = yaml.safe_load((SCHEMA_DIR / "config.schema.yaml").read_text())
    settings = {}
    for stage in STAGES:
        merged = dict(config[stage])
        for key, value in row.items():
            if key.startswith(stage + "."):
                merged[key.split(".", 1)[1]] = value
        errors = list(Draft202012Validator(schema["properties"][stage]).iter_errors(merged))
        if errors:
            where = "/".join(str(p) for p in errors[0].path)
            raise ValueError(f"scan {row['scan_id']!r}: {stage}.{where}: {errors[0].message}")
        settings[stage] = merged
    return settings


SCANS = _read_scan_sheet(config["scans"])
SETTINGS = {scan: _scan_settings(row) for scan, row in SCANS.items()}


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


def stage_params(stage):
    """Input function: this scan's settings of one stage (rerun trigger 'params')."""

    def params(wildcards):
        return SETTINGS[wildcards.scan][stage]

    return params


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
    if SETTINGS[wildcards.scan]["segment"]["method"] == "cnn":
        inputs["model"] = "results/models/segment.pt"
    return inputs


def per_scan(pattern, scans=None):
    return [pattern.format(scan=s) for s in (SCANS if scans is None else scans)]


def all_outputs():
    return [
        "results/summary.csv",
        "results/report.html",
        *per_scan("results/{scan}/scan.ome.zarr"),
        *per_scan("results/{scan}/meshes"),
    ]
