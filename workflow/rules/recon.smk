# Rotation centre from a few bands of rows; slab-wise reconstruction (stripes, stitching,
# gridrec/FBP/SIRT/CGLS) joined, without copying, into level 0 of results/{scan}/scan.ome.zarr.


rule center:
    input:
        PREP,
    output:
        json="results/{scan}/center.json",
        sweep="results/{scan}/center_sweep.tif",
    log:
        "logs/recon/{scan}.center.log",
    benchmark:
        "results/benchmarks/center/{scan}.tsv"
    conda:
        gpu_env("../envs/recon.yaml")
    threads: 2
    resources:
        mem_mb=job_resource("center", "mem_mb"),
        runtime=job_resource("center", "runtime"),
    params:
        prep=settings(
            "preprocess",
            "rings",
            "center",
            "center_method",
            "center_tolerance_px",
            "half_acquisition",
            "tilt",
        ),
        recon=settings("recon", "center_sweep", "frc", "device"),
        code=code("center", "center.py"),
    script:
        "../scripts/center.py"


rule recon_slab:
    input:
        prep=PREP,
        center="results/{scan}/center.json",
    output:
        temp(directory(f"{TMP}/{{scan}}/recon.parts/{{i}}.zarr")),
    log:
        "logs/recon/{scan}.{i}.log",
    benchmark:
        "results/benchmarks/recon_slab/{scan}.{i}.tsv"
    conda:
        gpu_env("../envs/recon.yaml")
    threads: 2
    resources:
        mem_mb=job_resource("recon_slab", "mem_mb"),
        runtime=job_resource("recon_slab", "runtime"),
    params:
        layout=settings("layout"),
        rings=lambda wc: SETTINGS[wc.scan]["preprocess"]["rings"],
        recon=settings("recon"),
        code=code("recon_slab", "recon_slab.py"),
    script:
        "../scripts/recon_slab.py"


rule recon_merge:
    input:
        parts=parts(f"{TMP}/{{scan}}/recon.parts/{{i}}.zarr", n_slabs),
        center="results/{scan}/center.json",
    output:
        directory(IMAGE0),
    log:
        "logs/recon/{scan}.merge.log",
    benchmark:
        "results/benchmarks/recon_merge/{scan}.tsv"
    conda:
        "../envs/io.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=code("recon_merge", "recon_slab.py", "recon_merge.py"),
    script:
        "../scripts/recon_merge.py"
