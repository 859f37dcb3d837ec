# Transfer-learning backbones: ImageNet weights are downloaded once per architecture and
# size into Keras' cache, on the machine running Snakemake (local rule: cluster nodes
# often have no internet), before any training job needs them.


localrules:
    fetch_imagenet,


rule fetch_imagenet:
    output:
        out="results/_imagenet/{arch}/{size}.json",
    log:
        "logs/fetch_imagenet/{arch}/{size}.log",
    benchmark:
        "benchmarks/fetch_imagenet/{arch}/{size}.tsv"
    conda:
        "../../envs/train.yaml"
    resources:
        mem_mb=bind(R.backbone_mem_mb),
    params:
        backbone=bind(P.backbone_spec),
    script:
        "../../scripts/fetch_imagenet.py"
