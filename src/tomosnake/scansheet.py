"""The scan sheet: one row per scan, validated, with per-scan stage settings.

The sheet is a TSV with columns ``scan_id``, ``path``, optional ``format`` and
``voxel_size_um``, and override columns ``SECTION.KEY`` (e.g. ``recon.filter``)
that replace ``config[SECTION][KEY]`` for that scan. Cells are read as YAML
scalars (``128`` is an int, ``auto`` a string, empty keeps the config value).
Rows and merged settings are validated against ``workflow/schemas``; errors name
the sheet, line, scan and key.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from jsonschema import Draft202012Validator

from tomosnake.config import first_error, schema
from tomosnake.errors import ConfigError

#: config sections a sheet column SECTION.KEY may override per scan
STAGES = ("layout", "preprocess", "recon", "segment", "morph")


def _cell(value: str) -> Any:
    try:
        return yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        return value


def read_scan_sheet(path: str | os.PathLike[str]) -> dict:
    """Rows of the scan sheet by scan id, validated against the scan-sheet schema.

    A column ``SECTION.KEY`` must name a setting that may differ per scan (the config
    schema marks beamtime-wide ones ``x-scope: beamtime``, e.g. the training settings).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: scan sheet not found")
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    sheet.columns = [c.strip() for c in sheet.columns]
    for col in ("scan_id", "path"):
        if col not in sheet.columns:
            raise ConfigError(f"{path}: scan sheet has no '{col}' column")
    dup = sorted(set(sheet["scan_id"][sheet["scan_id"].duplicated()]))
    if dup:
        raise ConfigError(f"{path}: duplicated scan_id {dup}")
    config_props = schema()["properties"]
    known = list(schema("scans")["properties"])
    for col in sheet.columns:
        near = difflib.get_close_matches(col, known, n=1, cutoff=0.75)
        if col not in known and near:
            raise ConfigError(f"{path}: column {col!r}: did you mean {near[0]!r}? (other "
                              "columns describe the scans; rename it if it is meant to)")
        section, _, key = col.partition(".")
        if section in STAGES and key:
            prop = config_props[section]["properties"].get(key)
            if prop is not None and prop.get("x-scope") == "beamtime":
                raise ConfigError(f"{path}: column {col!r}: {section}.{key} is one setting for "
                                  "the whole beamtime; set it in the config, not per scan")
    validator = Draft202012Validator(schema("scans"))
    rows: dict[str, dict[str, Any]] = {}
    for line, rec in enumerate(sheet.to_dict("records"), start=2):
        row = {k: v for k, v in ((k, _cell(v)) for k, v in rec.items()) if v is not None}
        row["scan_id"], row["path"] = rec["scan_id"].strip(), rec["path"].strip()
        problem = first_error(validator, row)
        if problem:
            raise ConfigError(f"{path}, line {line} (scan {rec['scan_id']!r}): {problem}")
        rows[row["scan_id"]] = row
    if not rows:
        raise ConfigError(f"{path}: scan sheet lists no scans")
    return rows


def scan_settings(config: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-stage settings of one scan: config sections with the row's overrides, validated."""
    props = schema()["properties"]
    settings = {}
    for stage in STAGES:
        merged = dict(config.get(stage, {}))
        for key, value in row.items():
            if key.startswith(stage + "."):
                merged[key.split(".", 1)[1]] = value
        problem = first_error(Draft202012Validator(props[stage]), merged)
        if problem:
            raise ConfigError(f"scan {row['scan_id']!r}: {stage}.{problem}")
        settings[stage] = merged
    return settings


#: segmentation methods that need a trained model file
