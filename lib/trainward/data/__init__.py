"""Datasets in and results out: manifests, incremental pushes, verified pulls.

sync.py      plan and push a directory to a volume (only what changed), under a lease
tree.py      walking and hashing a local tree (parallel, with a SQLite hash cache)
manifest.py  the manifest document kept beside the data on the volume
lease.py     the push lease that keeps two pushes from writing one dataset
"""
