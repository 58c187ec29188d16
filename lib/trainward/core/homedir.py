"""trainward's home directory as a plain string: `$TRAINWARD_HOME`, default `~/.trainward`.

`paths.home()` is the same directory as a Path. This module exists apart so that the guard's
hook, which runs before every shell command an assistant makes, can find the user's policy
file without importing pathlib (bench/bench_hook.py).
"""

from __future__ import annotations

import os

HOME_ENV = "TRAINWARD_HOME"


def home_dir() -> str:
    """`$TRAINWARD_HOME` (with `~` expanded), default `~/.trainward`. Not created here."""
    raw = os.environ.get(HOME_ENV)
    return os.path.expanduser(raw) if raw else os.path.join(os.path.expanduser("~"), ".trainward")
