"""The Modal backend: the only package that imports `modal` (always inside functions).

backend.py   ModalBackend: launch (detached), deploy, sweeps, state, logs, stop, checks
volumes.py   volume verbs (SDK; Volumes v1 and v2)
client.py    bounded SDK and CLI calls, errors translated, token checks
support.py   declarations, CLI JSON in both key styles, retries, call outcomes
executor.py  the sweep controller's executor inside a sweep's app
"""

from trainward.backends.modal.backend import ModalBackend
from trainward.backends.modal.executor import ModalExecutor
from trainward.backends.modal.image import build_image, describe, image_steps
from trainward.backends.modal.support import (
    call_outcome,
    cli_field,
    declaration_for,
    find_script,
    live_call,
)

__all__ = [
    "ModalBackend",
    "ModalExecutor",
    "build_image",
    "call_outcome",
    "cli_field",
    "declaration_for",
    "describe",
    "find_script",
    "image_steps",
    "live_call",
]
