"""Snakemake: the beamtime's results/report.html, with provenance."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake.provenance import collect_provenance
from tomosnake.smk import run_script
from tomosnake.viz import build_report

sm = snakemake  # noqa: F821
run_script(sm, lambda: build_report(
    "results", sm.output[0], summary_csv=sm.input.summary,
    provenance=collect_provenance(sm.input.config, sm.input.sheet, "results"),
))
