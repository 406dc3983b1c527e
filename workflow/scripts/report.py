"""Snakemake: the beamtime's HTML report, from exactly the rule's inputs."""

from tomosnake import pipeline
from tomosnake.smk import run_script

sm = snakemake  # noqa: F821
kinds = ("morphology", "center", "segment_qc", "figures", "meshes", "ome", "truth")
run_script(sm, lambda: pipeline.report(
    sm.output[0], sm.params.scans, {k: list(sm.input[k]) for k in kinds}, sm.params.simulated,
    sm.params.sheet_rows, sm.params.settings, sm.input.summary, sm.input.config[0],
    sm.input.sheet, sm.params.benchmarks, sm.params.options,
))
