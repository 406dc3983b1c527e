# Flat/dark normalisation, zingers, stripes, Paganin, centre -> results/{scan}/prep.zarr


rule preprocess:
    input:
        "results/{scan}/raw.zarr",
    output:
        directory("results/{scan}/prep.zarr"),
    params:
        prep=stage_params("preprocess"),
    log:
        "logs/preprocess/{scan}.log",
    benchmark:
        "results/benchmarks/preprocess/{scan}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/preprocess.py"
