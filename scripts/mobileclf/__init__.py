"""mobileclf: the library behind the workflow's thin entry points in ``scripts/``.

Each module has one job; TensorFlow is imported only by the modules that train or
convert models, so ingest, split and aggregation jobs start in well under a second.
"""
