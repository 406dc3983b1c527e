"""Snakemake: orthoslices, overlays, histograms and QC plots of one scan."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake.smk import run_script
from tomosnake.viz import scan_figures

sm = snakemake  # noqa: F821
run_script(
    sm, lambda: scan_figures(sm.input.recon, sm.input.labels, sm.output[0], sm.wildcards.scan)
)
