"""Snakemake: the beamtime's results/report.html, with provenance."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.report("results", sm.output[0], sm.input.summary,
                                       sm.input.config[0], sm.input.sheet))
