# Phone-path generator (extension beyond Muneeb et al. 2022): K seeded emulated phone
# inputs per training-eligible image (never the holdout) and size, made once for a
# generator with a `phone_views` section; training only indexes them.


rule phone_views:
    input:
        # unnamed: its inputs checked before this job starts (workflow/rules/checks.smk)
        "results/{dataset}/checks/{size}.json",
        splits="results/{dataset}/splits.csv",
    output:
        views="results/{dataset}/phone_views/{size}/{generator}.npy",
        table="results/{dataset}/phone_views/{size}/{generator}.csv",
    log:
        "logs/phone_views/{dataset}/{size}/{generator}.log",
    benchmark:
        "benchmarks/phone_views/{dataset}/{size}/{generator}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: R.EMULATION_THREADS
    resources:
        mem_mb=bind(R.phone_views_mem_mb),
        runtime=bind(R.phone_views_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.phone_views_options),
    script:
        "../../scripts/phone_views.py"
