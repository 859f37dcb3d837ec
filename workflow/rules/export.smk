# Seed 000 steps 4-5: final model on all non-holdout images, TFLite variants with metadata
# and labels, each verified in the LiteRT interpreter against the Keras model.


rule train_final:
    input:
        chosen=get_final_spec,
        arrays=get_all_arrays,
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
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
    threads: final_threads
    resources:
        mem_mb=final_mem_mb,
        runtime=final_runtime,
    params:
        architectures=get_architectures,
        generators=get_generators,
        training=get_training_spec,
        val_fraction=get_final_val_fraction,
        seed=get_final_seed,
        positive=get_positive_class,
    shell:
        "{PYTHON} {SCRIPTS}/train_final.py --chosen {input.chosen} --arrays {input.arrays}"
        " --splits {input.splits} --labels {input.labels}"
        " --architectures {params.architectures:q} --generators {params.generators:q}"
        " --training {params.training:q} --val-fraction {params.val_fraction}"
        " --seed {params.seed} --positive-class {params.positive:q} --threads {threads}"
        " --model {output.model} --spec {output.spec} --metrics {output.metrics}"
        " --history {output.history} --deploy-labels {output.deploy_labels} > {log} 2>&1"


rule convert:
    input:
        model="results/{dataset}/final/model.keras",
        spec="results/{dataset}/final/spec.json",
        arrays=get_all_arrays,
        splits="results/{dataset}/splits.csv",
    output:
        "results/{dataset}/export/plain_{variant}.tflite",
    log:
        "logs/convert/{dataset}/{variant}.log",
    benchmark:
        "benchmarks/convert/{dataset}/{variant}.tsv"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
        runtime=export_runtime,
    params:
        calibration=get_calibration_images,
        seed=get_final_seed,
    shell:
        "{PYTHON} {SCRIPTS}/convert_tflite.py --model {input.model} --spec {input.spec}"
        " --arrays {input.arrays} --splits {input.splits} --variant {wildcards.variant}"
        " --calibration-images {params.calibration} --seed {params.seed}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule add_metadata:
    input:
        model="results/{dataset}/export/plain_{variant}.tflite",
        spec="results/{dataset}/final/spec.json",
        labels="results/{dataset}/deploy/labels.txt",
    output:
        model="results/{dataset}/deploy/model_{variant}.tflite",
        read_back="results/{dataset}/export/metadata_{variant}.json",
    log:
        "logs/add_metadata/{dataset}/{variant}.log",
    threads: 1
    resources:
        mem_mb=export_mem_mb,
        runtime=export_runtime,
    params:
        metadata=get_metadata_fields,
    shell:
        "{PYTHON} {SCRIPTS}/add_metadata.py --model {input.model} --spec {input.spec}"
        " --labels {input.labels} --variant {wildcards.variant}"
        " --metadata {params.metadata:q} --out {output.model}"
        " --read-back {output.read_back} > {log} 2>&1"


rule verify_export:
    input:
        models=get_deploy_models,
        keras_model="results/{dataset}/final/model.keras",
        spec="results/{dataset}/final/spec.json",
        arrays=get_all_arrays,
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
    threads: 1
    resources:
        mem_mb=export_mem_mb,
        runtime=export_runtime,
    params:
        tolerance=get_export_tolerance,
        positive=get_positive_class,
        seed=get_final_seed,
    shell:
        "{PYTHON} {SCRIPTS}/verify_export.py --models {input.models}"
        " --keras-model {input.keras_model} --spec {input.spec} --arrays {input.arrays}"
        " --splits {input.splits} --labels {input.labels} --tolerance {params.tolerance}"
        " --positive-class {params.positive:q} --seed {params.seed} --threads {threads}"
        " --table {output.table} --details {output.details} > {log} 2>&1"


rule model_card:
    input:
        spec="results/{dataset}/final/spec.json",
        metrics="results/{dataset}/final/metrics.json",
        chosen=get_final_spec,
        export="results/{dataset}/tables/export.csv",
        read_backs=get_metadata_read_backs,
        splits="results/{dataset}/splits.csv",
    output:
        card=report(
            "results/{dataset}/deploy/model_card.md",
            caption="../report/model_card.rst",
            category="Export",
        ),
        metadata="results/{dataset}/deploy/metadata.json",
    log:
        "logs/model_card/{dataset}.log",
    params:
        fields=get_metadata_fields,
        resize=get_resize_for_card,
        tolerance=get_export_tolerance,
    shell:
        "{PYTHON} {SCRIPTS}/model_card.py --dataset {wildcards.dataset} --spec {input.spec}"
        " --metrics {input.metrics} --chosen {input.chosen} --export {input.export}"
        " --read-back {input.read_backs} --splits {input.splits} --fields {params.fields:q}"
        " --resize {params.resize:q} --tolerance {params.tolerance}"
        " --card {output.card} --metadata-out {output.metadata} > {log} 2>&1"
