# Stage 7: parameter reduction (Muneeb et al. (2022), section 2.3, Fig. 9). For the selected
# arch/generator/size, the first conv's filters x the first dense layer's neurons are
# cross-validated on the CV folds; the smallest model within the tolerance is chosen.
# One job trains a block of cells (one TensorFlow start-up); a block's name lists its
# cells, so a grown grid trains only its new cells (mobileclf/reduce/grid.py).
# The selected model is known only once selection.json exists: select_config is a
# checkpoint and the summary's input functions read it (common.smk, get_reduction_*).


rule reduction_block:
    input:
        # unnamed: its inputs checked before this job starts (workflow/rules/checks.smk)
        "results/{dataset}/checks/{size}.json",
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        phone_views=bind(T.phone_views),
    output:
        out="results/{dataset}/reduction/{arch}/{generator}/{size}/blocks/{cells}.csv",
    log:
        "logs/reduction_block/{dataset}/{arch}/{generator}/{size}/{cells}.log",
    benchmark:
        "benchmarks/reduction_block/{dataset}/{arch}/{generator}/{size}/{cells}.tsv"
    wildcard_constraints:
        cells=BLOCK_PATTERN,
    conda:
        "../../envs/train.yaml"
    threads: bind(R.train_threads)
    resources:
        mem_mb=bind(R.reduction_block_mem_mb),
        runtime=bind(R.reduction_block_runtime),
    params:
        arch_spec=bind(P.arch_spec),
        generator_spec=bind(P.generator_spec),
        training=bind(P.training_spec),
        seed=bind(P.reduction_seed),
    script:
        "../../scripts/reduction_block.py"


rule reduction_summary:
    input:
        # unnamed: the chosen size's inputs checked first (workflow/rules/checks.smk)
        get_selected_check,
        selection="results/{dataset}/choice.json",
        images=get_reduction_images,
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
        blocks=get_reduction_blocks,
    output:
        table="results/{dataset}/tables/reduction.csv",
        heatmap=report(
            "results/{dataset}/plots/reduction_heatmap.png",
            caption="../report/reduction_heatmap.rst",
            category="Parameter reduction",
        ),
        tradeoff=report(
            "results/{dataset}/plots/reduction_tradeoff.png",
            caption="../report/reduction_tradeoff.rst",
            category="Parameter reduction",
        ),
        out="results/{dataset}/reduction.json",
    log:
        "logs/reduction_summary/{dataset}.log",
    benchmark:
        "benchmarks/reduction_summary/{dataset}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.export_mem_mb),
        runtime=bind(R.export_runtime),
    params:
        arch_spec=get_reduction_arch,
        generator_spec=get_reduction_generator,
        grid=bind(P.reduction_grid),
    script:
        "../../scripts/reduction_summary.py"
