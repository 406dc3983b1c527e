# Simulated scans (beamtime simulator) written as a beamline writes them, with ground truth.


rule simulate_dxchange:
    output:
        scan="resources/sim/{name}.h5",
        truth=directory("resources/sim/{name}_truth.zarr"),
    log:
        "logs/simulate/{name}.log",
    benchmark:
        "results/benchmarks/simulate/{name}.tsv"
    conda:
        "../envs/tomosnake.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: config["simulate"][wc.name],
        fmt="dxchange",
    script:
        "../scripts/simulate.py"


rule simulate_tiff:
    output:
        scan=directory("resources/sim/{name}_tiff"),
        truth=directory("resources/sim/{name}_tiff_truth.zarr"),
    log:
        "logs/simulate/{name}_tiff.log",
    benchmark:
        "results/benchmarks/simulate/{name}_tiff.tsv"
    conda:
        "../envs/tomosnake.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=lambda wc: config["simulate"][wc.name],
        fmt="tiff",
    script:
        "../scripts/simulate.py"
