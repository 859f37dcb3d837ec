"""Parameter reduction: a filters × neurons grid around the selected architecture, and
the smallest cell that keeps its accuracy.

:mod:`.grid` plans the grid and its training blocks (standard library only: the Snakefile
imports it at parse time), ``reduction_block`` trains one block on every fold
(:mod:`.block`), ``reduction_summary`` chooses the cell and writes reduction.json
(:mod:`.summary`).

Nothing is imported here, so that importing :mod:`.grid` loads neither TensorFlow nor pandas.
"""
