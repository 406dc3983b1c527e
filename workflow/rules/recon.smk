# Slab-wise reconstruction fanned out over z, then joined into results/{scan}/recon.zarr


rule recon_slab:
    input:
        "results/{scan}/prep.zarr",
    output:
        temp(directory("results/{scan}/recon.slabs/{slab}.zarr")),
    params:
        recon=stage_params("recon"),
    log:
        "logs/recon/{scan}.{slab}.log",
    benchmark:
        "results/benchmarks/recon_slab/{scan}.{slab}.tsv"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../../envs/recon.yaml"
    script:
        "../scripts/recon_slab.py"


rule recon_merge:
    input:
        slabs=recon_slabs,
        source="results/{scan}/prep.zarr",
    output:
        directory("results/{scan}/recon.zarr"),
    params:
        slab_code=script_sha256("recon_slab.py"),
    log:
        "logs/recon/{scan}.merge.log",
    benchmark:
        "results/benchmarks/recon_merge/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=30,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/merge_slabs.py"
