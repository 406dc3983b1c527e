"""Snakemake: simulate one scan (beamtime simulator) with its ground truth."""

import sys
from pathlib import Path

# import the library from this checkout too when a conda env (not .venv) runs the job
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from tomosnake.smk import run_script
from tomosnake.synth import make_spec, write_simulated_scan

run_script(
    snakemake,  # noqa: F821
    lambda: write_simulated_scan(
        snakemake.output.scan,  # noqa: F821
        make_spec(**snakemake.params.spec),  # noqa: F821
        fmt=snakemake.params.fmt,  # noqa: F821
    ),
)
