# Raw scan (DXchange, NeXus, TIFF stack, Zeiss txrm/xrm) -> results/{scan}/raw.zarr


rule ingest:
    input:
        get_raw,
    output:
        directory("results/{scan}/raw.zarr"),
    params:
        fmt=lambda wc: SCANS[wc.scan].get("format", "auto"),
        voxel_size_um=lambda wc: SCANS[wc.scan].get("voxel_size_um"),
    log:
        "logs/ingest/{scan}.log",
    benchmark:
        "results/benchmarks/ingest/{scan}.tsv"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    conda:
        "../../envs/io.yaml"
    script:
        "../scripts/ingest.py"
