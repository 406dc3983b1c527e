"""Snakemake: simulate one scan (beamtime simulator) with its ground truth."""

from tomosnake.smk import run_script
from tomosnake.synth import make_spec, write_simulated_scan

sm = snakemake  # noqa: F821
run_script(sm, lambda: write_simulated_scan(sm.output.scan, make_spec(**sm.params.spec),
                                            fmt=sm.params.fmt))
