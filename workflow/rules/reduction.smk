# Stage 7: parameter reduction (seed 000, section 2.3, Fig. 9). For the selected
# arch/generator/size, the first conv's filters x the first dense layer's neurons are
# cross-validated on the CV folds; the smallest model within the tolerance is chosen.
# Blocks of cells share one TensorFlow process; block names list their cells, so a grown
# grid trains only its new cells (see mobileclf/reduction_grid.py).


rule reduction_block:
    input:
        images="results/{dataset}/arrays/{size}.npy",
        splits="results/{dataset}/splits.csv",
        labels="results/{dataset}/labels.txt",
    output:
        "results/{dataset}/reduction/{arch}/{generator}/{size}/blocks/{cells}.csv",
    wildcard_constraints:
        cells=BLOCK_PATTERN,
    params:
        arch=get_arch_spec,
        generator=get_generator_spec,
        training=get_training_spec,
        seed=get_reduction_seed,
    threads: train_threads
    resources:
        mem_mb=reduction_mem_mb,
        runtime=reduction_runtime,
    log:
        "logs/reduction_block/{dataset}/{arch}/{generator}/{size}/{cells}.log",
    benchmark:
        "benchmarks/reduction_block/{dataset}/{arch}/{generator}/{size}/{cells}.tsv"
    shell:
        "{PYTHON} {SCRIPTS}/reduction_block.py --images {input.images} --splits {input.splits}"
        " --labels {input.labels} --cells {wildcards.cells} --arch {params.arch:q}"
        " --generator {params.generator:q} --training {params.training:q}"
        " --seed {params.seed} --threads {threads} --out {output} > {log} 2>&1"


rule reduction_summary:
    input:
        selection="results/{dataset}/selection.json",
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
        json="results/{dataset}/reduction.json",
    params:
        arch=get_reduction_arch,
        generator=get_reduction_generator,
        grid=get_reduction_grid,
    log:
        "logs/reduction_summary/{dataset}.log",
    shell:
        "{PYTHON} {SCRIPTS}/reduction_summary.py --dataset {wildcards.dataset}"
        " --selection {input.selection} --images {input.images} --splits {input.splits}"
        " --labels {input.labels} --blocks {input.blocks} --arch {params.arch:q}"
        " --generator {params.generator:q} --grid {params.grid:q} --table {output.table}"
        " --heatmap {output.heatmap} --tradeoff {output.tradeoff} --out {output.json}"
        " > {log} 2>&1"
