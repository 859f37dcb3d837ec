# Phone metrics of cross-validation: every CV test image through the gallery path and the
# camera path (every mobile.camera_levels severity), made once per dataset × size and read
# by every fold of every cell (mobileclf.mobile.phone_inputs).


rule phone_inputs:
    input:
        # unnamed: its inputs checked before this job starts (workflow/rules/checks.smk)
        "results/{dataset}/checks/{size}.json",
        splits="results/{dataset}/splits.csv",
    output:
        out="results/{dataset}/phone_inputs/{size}.npz",
    log:
        "logs/phone_inputs/{dataset}/{size}.log",
    benchmark:
        "benchmarks/phone_inputs/{dataset}/{size}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: R.EMULATION_THREADS
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.phone_inputs_options),
    script:
        "../../scripts/phone_inputs.py"
