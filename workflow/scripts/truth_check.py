"""Snakemake: compare a simulated scan's centre and labels with its ground truth."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.truth_check(sm.input.center, sm.input.labels, sm.input.truth,
                                            sm.output[0]))
