# Figures, meshes and OME-Zarr per scan; one HTML report per beamtime.


rule figures:
    input:
        recon="results/{scan}/recon.zarr",
        labels="results/{scan}/labels.zarr",
    output:
        directory("results/{scan}/figures"),
    log:
        "logs/viz/{scan}.figures.log",
    benchmark:
        "results/benchmarks/figures/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    conda:
        "../../envs/viz.yaml"
    script:
        "../scripts/figures.py"


rule meshes:
    input:
        "results/{scan}/labels.zarr",
    output:
        directory("results/{scan}/meshes"),
    log:
        "logs/viz/{scan}.meshes.log",
    benchmark:
        "results/benchmarks/meshes/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    conda:
        "../../envs/viz.yaml"
    script:
        "../scripts/meshes.py"


rule ome_zarr:
    input:
        recon="results/{scan}/recon.zarr",
        labels="results/{scan}/labels.zarr",
    output:
        directory("results/{scan}/scan.ome.zarr"),
    log:
        "logs/viz/{scan}.omezarr.log",
    benchmark:
        "results/benchmarks/ome_zarr/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    conda:
        "../../envs/viz.yaml"
    script:
        "../scripts/ome_zarr.py"


rule report:
    input:
        summary="results/summary.csv",
        figures=per_scan("results/{scan}/figures"),
        config="config/config.yaml",
        sheet=config["scans"],
    output:
        "results/report.html",
    log:
        "logs/viz/report.log",
    benchmark:
        "results/benchmarks/report/all.tsv"
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/viz.yaml"
    script:
        "../scripts/report.py"
