"""The data stages: from a folder of labelled images to arrays a training job can load.

Rules, entry scripts and modules share names: ``ingest`` (:mod:`.ingest`: manifest.csv,
one row per file, accepted or rejected with a reason), ``segment`` (:mod:`.segment`,
optional LAB + K-means masking), ``split`` (:mod:`.split`: splits.csv, holdout + folds),
``resize`` (:mod:`.resize`: one uint8 array per image size) and ``make_demo``
(:mod:`.demo`). :mod:`.tree` is the walk of the data root (symlinks, loops, wildcard
braces); :mod:`.images` is the one rule for decoding a file into RGB;
:mod:`.datasets` loads and cross-checks what training jobs read.

Nothing is imported here: the Snakefile and light jobs import single modules.
"""
