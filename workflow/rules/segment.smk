# Optional stage 2b: LAB + K-means segmentation (Ghaderzadeh et al. (n.d.)) of every accepted image, once
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
    conda:
        "../../envs/segment.yaml"
    threads: 1
    resources:
        mem_mb=bind(R.light_mem_mb),
        runtime=bind(R.light_runtime),
    params:
        root=bind(T.images_root),
        options=bind(P.segment_options),
    script:
        "../../scripts/segment.py"
