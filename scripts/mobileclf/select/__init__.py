"""The selection stages: ``aggregate_cv`` (fold metrics into the paper's CV tables and a
heatmap; :mod:`.aggregate`) and ``select_config`` (the best architecture × generator ×
size, with its tie rule; :mod:`.selection`)."""
