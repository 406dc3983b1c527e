"""Snakemake: labels slabs -> the OME-Zarr label image's level 0 and segment_qc.json."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
run_script(sm, lambda: pipeline.segment_merge(sm.input.parts, sm.output.labels, sm.output.qc,
                                              sm.input.source, sm.params.suggest))
