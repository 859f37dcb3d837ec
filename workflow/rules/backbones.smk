# Transfer-learning backbones: ImageNet weights are downloaded once per architecture and
# size into Keras' cache, on the machine running Snakemake (local rule: cluster nodes
# often have no internet), before any training job needs them.


localrules:
    fetch_imagenet,


rule fetch_imagenet:
    output:
        "results/_imagenet/{arch}/{size}.json",
    log:
        "logs/fetch_imagenet/{arch}/{size}.log",
    resources:
        mem_mb=backbone_mem_mb,
    params:
        backbone=get_backbone_spec,
    shell:
        "{PYTHON} {SCRIPTS}/fetch_imagenet.py --arch-name {wildcards.arch}"
        " --backbone {params.backbone:q} --size {wildcards.size} --out {output} > {log} 2>&1"
