# Stage 7: mobile-emulated testing (gallery and live-camera paths), latency, the verdict
# and the report. Reads the final model and the deploy files of the export stage.


rule mobile_reference_inputs:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        spec="results/{dataset}/final/spec.json",
    output:
        holdout="results/{dataset}/mobile/holdout.csv",
        computer="results/{dataset}/mobile/inputs/computer.npy",
        gallery="results/{dataset}/mobile/inputs/gallery.npy",
    log:
        "logs/mobile_reference_inputs/{dataset}.log",
    benchmark:
        "benchmarks/mobile_reference_inputs/{dataset}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.mobile_reference_options),
    script:
        "../../scripts/mobile_reference_inputs.py"


rule mobile_camera_inputs:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        holdout="results/{dataset}/mobile/holdout.csv",
        spec="results/{dataset}/final/spec.json",
    output:
        inputs="results/{dataset}/mobile/inputs/camera_{severity}.npy",
        examples="results/{dataset}/mobile/inputs/camera_{severity}_examples.npz",
    log:
        "logs/mobile_camera_inputs/{dataset}/{severity}.log",
    benchmark:
        "benchmarks/mobile_camera_inputs/{dataset}/{severity}.tsv"
    conda:
        "../../envs/ingest.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.camera_level),
    script:
        "../../scripts/mobile_camera_inputs.py"


rule mobile_predict:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        model=T.mobile_model,
        # the variant's metadata as read back from its file (none for keras): add_metadata's
        # output, not the model card's deploy/metadata.json (that checkpoint's readers in a
        # SLURM group are never scheduled; profiles/slurm/config.yaml)
        metadata=T.mobile_metadata,
        labels="results/{dataset}/labels.txt",
        holdout="results/{dataset}/mobile/holdout.csv",
        computer="results/{dataset}/mobile/inputs/computer.npy",
        gallery="results/{dataset}/mobile/inputs/gallery.npy",
        camera=bind(T.camera_inputs),
    output:
        out="results/{dataset}/mobile/predictions/{variant}.csv",
    log:
        "logs/mobile_predict/{dataset}/{variant}.log",
    benchmark:
        "benchmarks/mobile_predict/{dataset}/{variant}.tsv"
    wildcard_constraints:
        variant=T.wildcard_pattern(["keras", *VARIANTS]),
    conda:
        "../../envs/mobile.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.mobile_predict_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.mediapipe_options),
    script:
        "../../scripts/mobile_predict.py"


rule mobile_tables:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        predictions=bind(T.mobile_predictions),
        labels="results/{dataset}/labels.txt",
        spec="results/{dataset}/final/spec.json",
        # the grid's best cell only (the verdict's ceiling), not the whole summary
        cv_summary="results/{dataset}/tables/cv_best.csv",
        models=bind(T.deploy_models),
        camera=bind(T.camera_inputs),
        examples=bind(T.camera_examples),
        holdout="results/{dataset}/mobile/holdout.csv",
        phone_measured="results/{dataset}/tables/phone_measured.csv",
    output:
        table=report(
            "results/{dataset}/tables/mobile.csv",
            caption="../report/mobile_table.rst",
            category="Mobile testing",
        ),
        phone_test=report(
            "results/{dataset}/tables/phone_test.csv",
            caption="../report/phone_test.rst",
            category="Mobile testing",
        ),
        robustness=report(
            "results/{dataset}/plots/mobile_robustness.png",
            caption="../report/mobile_robustness.rst",
            category="Mobile testing",
        ),
        contact_sheet=report(
            "results/{dataset}/plots/camera_contact_sheet.png",
            caption="../report/camera_contact_sheet.rst",
            category="Mobile testing",
        ),
        verdict=report(
            "results/{dataset}/verdict.json",
            caption="../report/verdict.rst",
            category="Verdict",
        ),
    log:
        "logs/mobile_tables/{dataset}.log",
    benchmark:
        "benchmarks/mobile_tables/{dataset}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        positive_class=bind(P.positive_class),
        options=get_verdict_options,
    script:
        "../../scripts/mobile_tables.py"


rule mobile_latency:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        models=bind(T.deploy_models),
    output:
        out=report(
            "results/{dataset}/tables/latency.csv",
            caption="../report/latency.rst",
            category="Mobile testing",
        ),
    log:
        "logs/mobile_latency/{dataset}.log",
    benchmark:
        "benchmarks/mobile_latency/{dataset}.tsv"
    conda:
        "../../envs/mobile.yaml"
    threads: mobile_latency_threads
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        options=bind(P.latency_options),
    script:
        "../../scripts/mobile_latency.py"


rule report:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        unpack(bind(T.report_inputs)),
    output:
        html=report(
            "results/{dataset}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        markdown="results/{dataset}/report.md",
    log:
        "logs/report/{dataset}.log",
    benchmark:
        "benchmarks/report/{dataset}.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.table_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        benchmarks="benchmarks",
    script:
        "../../scripts/report.py"


rule report_index:
    input:
        verdicts=expand("results/{dataset}/verdict.json", dataset=DATASETS),
        reports=expand("results/{dataset}/report.html", dataset=DATASETS),
    output:
        html=report(
            "results/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    log:
        "logs/report_index/all.log",
    benchmark:
        "benchmarks/report_index/all.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.table_mem_mb),
        runtime=1,
    script:
        "../../scripts/report_index.py"
