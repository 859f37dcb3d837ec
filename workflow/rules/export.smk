# Muneeb et al. (2022) steps 4-5: final model on all non-holdout images, TFLite variants with metadata
# and labels, each verified in the LiteRT interpreter against the Keras model.
# Inputs and params name only the chosen cell (choice.json, the chosen size's array, its
# architecture and generator, resolved through the select_config checkpoint): a grid cell
# that does not win reruns nothing here (docs/reruns-and-recovery.md).


rule train_final:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        chosen=bind(T.final_spec),
        arrays=get_selected_array,
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        phone_views=get_final_phone_views,
    output:
        model="results/{dataset}/final/model.keras",
        spec="results/{dataset}/final/spec.json",
        metrics="results/{dataset}/final/metrics.json",
        history="results/{dataset}/final/history.csv",
        deploy_labels="results/{dataset}/deploy/labels.txt",
    log:
        "logs/train_final/{dataset}.log",
    benchmark:
        "benchmarks/train_final/{dataset}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: bind(R.train_final_threads)
    resources:
        **R.train_partition(config),
        mem_mb=bind(R.train_final_mem_mb),
        runtime=bind(R.train_final_runtime),
        gpu=bind(R.train_gpu),
    params:
        architectures=get_final_architecture,
        generators=get_final_generator,
        training=bind(P.training_spec),
        val_fraction=bind(P.final_val_fraction),
        seed=bind(P.final_seed),
        positive_class=bind(P.positive_class),
    script:
        "../../scripts/train_final.py"


rule convert:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        model="results/{dataset}/final/model.keras",
        spec="results/{dataset}/final/spec.json",
        arrays=get_selected_array,
        splits="results/{dataset}/splits.csv",
    output:
        out="results/{dataset}/export/plain_{variant}.tflite",
    log:
        "logs/convert/{dataset}/{variant}.log",
    benchmark:
        "benchmarks/convert/{dataset}/{variant}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.export_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        calibration_images=bind(P.calibration_images),
        seed=bind(P.final_seed),
    script:
        "../../scripts/convert.py"


# a checkpoint only for reruns (as ingest.smk explains): a deleted deploy file rebuilt with
# the same bytes reruns no verification, model card or phone test
checkpoint add_metadata:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        model="results/{dataset}/export/plain_{variant}.tflite",
        spec="results/{dataset}/final/spec.json",
        labels="results/{dataset}/deploy/labels.txt",
    output:
        out="results/{dataset}/deploy/model_{variant}.tflite",
        read_back="results/{dataset}/export/metadata_{variant}.json",
    log:
        "logs/add_metadata/{dataset}/{variant}.log",
    benchmark:
        "benchmarks/add_metadata/{dataset}/{variant}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.export_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        metadata=bind(P.metadata_fields),
    script:
        "../../scripts/add_metadata.py"


rule verify_export:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        models=bind(T.deploy_models),
        keras_model="results/{dataset}/final/model.keras",
        spec="results/{dataset}/final/spec.json",
        arrays=get_selected_array,
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
    output:
        table=report(
            "results/{dataset}/tables/export.csv",
            caption="../report/export.rst",
            category="Export",
        ),
        details="results/{dataset}/export/verify.json",
    log:
        "logs/verify_export/{dataset}.log",
    benchmark:
        "benchmarks/verify_export/{dataset}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.export_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        tolerance=bind(P.export_tolerance),
        positive_class=bind(P.positive_class),
        seed=bind(P.final_seed),
    script:
        "../../scripts/verify_export.py"


# a checkpoint only for reruns: a rewritten deploy/metadata.json with the same bytes
# reruns no report (the phone tests read add_metadata's read-backs, not this file)
checkpoint model_card:
    input:
        # unnamed: every job after the selection reads the checkpoint (docs/reruns-and-recovery.md)
        "results/{dataset}/choice.json",
        spec="results/{dataset}/final/spec.json",
        metrics="results/{dataset}/final/metrics.json",
        chosen=bind(T.final_spec),
        export="results/{dataset}/tables/export.csv",
        read_back=bind(T.metadata_read_backs),
        splits="results/{dataset}/splits.csv",
    output:
        card=report(
            "results/{dataset}/deploy/model_card.md",
            caption="../report/model_card.rst",
            category="Export",
        ),
        metadata_out="results/{dataset}/deploy/metadata.json",
    log:
        "logs/model_card/{dataset}.log",
    benchmark:
        "benchmarks/model_card/{dataset}.tsv"
    conda:
        "../../envs/export.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.table_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        fields=bind(P.metadata_fields),
        resize=bind(P.card_resize),
        tolerance=bind(P.export_tolerance),
    script:
        "../../scripts/model_card.py"
