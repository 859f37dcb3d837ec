# Optional stage 2b: LAB + K-means segmentation (seed 004) of every accepted image, once
# per dataset; resize then reads the masked copies (datasets.<name>.segmentation.enabled).


rule segment:
    input:
        manifest="results/{dataset}/manifest.csv",
    output:
        images=directory("results/{dataset}/segmented"),
        table="results/{dataset}/tables/segmentation.csv",
        figure=report(
            "results/{dataset}/plots/segmentation.png",
            caption="../report/segmentation.rst",
            category="Preprocessing",
        ),
    log:
        "logs/segment/{dataset}.log",
    benchmark:
        "benchmarks/segment/{dataset}.tsv"
    params:
        root=get_dataset_root,
        options=get_segmentation_options,
    shell:
        "{PYTHON} {SCRIPTS}/segment.py --manifest {input.manifest} --root {params.root:q}"
        " --options {params.options:q} --out {output.images} --table {output.table}"
        " --figure {output.figure} > {log} 2>&1"
