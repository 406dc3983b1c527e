"""Snakemake: per-scan morphology.json (+ truth checks) -> results/summary.csv."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
truth = dict(zip(sm.params.simulated, sm.input.truth, strict=True))
run_script(sm, lambda: pipeline.summary(sm.params.scans, sm.input.morph, truth, sm.output[0]))
