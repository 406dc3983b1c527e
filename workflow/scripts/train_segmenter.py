"""Snakemake: ground-truth slices of simulated scans -> CNN or random-forest model file."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.train_segmenter(sm.input.recon, sm.input.truth, sm.output[0],
                                                sm.params.slices, sm.params.get("epochs"),
                                                method=sm.params.method))
