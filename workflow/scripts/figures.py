"""Snakemake: orthoslices, overlays, distributions and QC plots of one scan."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.figures(sm.input.recon, sm.input.labels, sm.output[0],
                                        sm.input.center, sm.input.sweep, sm.input.morphology,
                                        sm.input.segment_qc))
