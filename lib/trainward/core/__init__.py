"""The foundation every layer may import, and that imports nothing above it.

contracts.py  typed documents that cross processes (worker spec, plans, records, status)
paths.py      every layout: the home directory and the files on a volume
homedir.py    the home directory as a string (for the guard hook, which avoids pathlib)
fileio.py     atomic replace, sha256 of a file, a file lock
jsonl.py      append-only JSON-lines files
proc.py       process liveness and identity
retry.py      the one backoff loop
loader.py     the one `module:attribute` loader
"""
