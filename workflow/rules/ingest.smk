# Raw scan (DXchange, NeXus, TIFF stack, Zeiss txrm/xrm) -> normalised projections (prep.zarr).
# Projection-wise steps (flat/dark, zingers, alignment shifts, Paganin, -log) run on whole
# frames, a block of angles per job; the blocks are joined without copying.


rule flats:
    input:
        get_raw,
    output:
        temp(directory(f"{TMP}/{{scan}}/flats.zarr")),
    log:
        "logs/ingest/{scan}.flats.log",
    benchmark:
        "results/benchmarks/flats/{scan}.tsv"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=job_resource("ingest", "mem_mb"),
        runtime=job_resource("ingest", "runtime"),
    params:
        fmt=lambda wc: SCANS[wc.scan].get("format", "auto"),
        prep=settings("preprocess", "no_flats", "no_darks"),
        code=code("flats", "flats.py"),
    script:
        "../scripts/flats.py"


rule ingest:
    input:
        raw=get_raw,
        flats=rules.flats.output[0],
    output:
        temp(directory(f"{TMP}/{{scan}}/prep.parts/{{i}}.zarr")),
    log:
        "logs/ingest/{scan}.{i}.log",
    benchmark:
        "results/benchmarks/ingest/{scan}.{i}.tsv"
    conda:
        "../envs/preprocess.yaml"
    threads: 1
    resources:
        mem_mb=job_resource("ingest", "mem_mb"),
        runtime=job_resource("ingest", "runtime"),
    params:
        fmt=lambda wc: SCANS[wc.scan].get("format", "auto"),
        voxel_size_um=lambda wc: SCANS[wc.scan].get("voxel_size_um"),
        prep=settings("preprocess", "zingers", "paganin"),
        code=code("ingest", "ingest.py"),
    script:
        "../scripts/ingest.py"


rule prep_merge:
    input:
        raw=get_raw,
        parts=parts(f"{TMP}/{{scan}}/prep.parts/{{i}}.zarr", n_blocks),
    output:
        directory(PREP) if KEEP_PREP else temp(directory(PREP)),
    log:
        "logs/ingest/{scan}.merge.log",
    benchmark:
        "results/benchmarks/prep_merge/{scan}.tsv"
    conda:
        "../envs/io.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code("prep_merge", "ingest.py", "flats.py"),
    script:
        "../scripts/prep_merge.py"
