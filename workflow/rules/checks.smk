# The intermediates every later job reads (manifest, labels, splits, one size's array),
# checked once before any reader starts: when one was tampered with, the readers never
# start, so Snakemake removes none of their results (mobileclf/data/check.py). Every
# training, final-model, export and phone-test job lists the output of its size's check.
# A checkpoint only for reruns, as ingest.smk explains.


checkpoint check_data:
    input:
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        manifest="results/{dataset}/manifest.csv",
    output:
        out="results/{dataset}/checks/{size}.json",
    log:
        "logs/check_data/{dataset}/{size}.log",
    benchmark:
        "benchmarks/check_data/{dataset}/{size}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    script:
        "../../scripts/check_data.py"
