"""A container's view of its volume mounts: the bootstrap every fake container runs first.

Containers are local processes, so a volume cannot really be mounted at `/vol`. Code written
for Modal (a user's own app, which knows nothing of this fake) opens `/vol/runs/x/ckpt.pt`
all the same. This bootstrap makes that work: it redirects Python-level file access under
each mount path (`MODAL_FAKE_MOUNTS`) to the volume's host directory, then runs Modal's own
container entrypoint. Covered: `open`/`io.open`, and the `os` calls that `os.path`, `pathlib`,
`shutil`, `glob` and `tempfile` go through. Not covered: files opened by C/C++ code from a
path (e.g. `torch.save(path)` writes through its own C++ writer); such code passes a file
object, or translates with `MODAL_FAKE_MOUNTS` itself as trainward's worker does.

Run as `python fsview.py` (argv and environment as for `python -m modal._container_entrypoint`).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import runpy
from collections.abc import Callable
from typing import Any

_ONE_PATH = ("stat", "lstat", "mkdir", "listdir", "scandir", "remove", "unlink", "rmdir",
             "access", "chmod", "utime", "open", "truncate", "statvfs")  # fmt: skip
_TWO_PATHS = ("rename", "replace", "link", "symlink")


def translator(mounts: dict[str, str]) -> Callable[[Any], Any]:
    ordered = sorted(mounts, key=len, reverse=True)

    def host(path: Any) -> Any:
        if isinstance(path, int):
            return path
        try:
            text = os.fspath(path)
        except TypeError:
            return path
        if isinstance(text, bytes):
            return path
        for mount in ordered:
            base = mount.rstrip("/")
            if text == base or text.startswith(base + "/"):
                return mounts[mount] + text[len(base) :]
        return path

    return host


def install(mounts: dict[str, str]) -> None:
    if not mounts:
        return
    host = translator(mounts)
    real_open = builtins.open

    def open_(file: Any, *args: Any, **kwargs: Any) -> Any:
        return real_open(host(file), *args, **kwargs)

    builtins.open = io.open = open_  # type: ignore[assignment]
    for name in _ONE_PATH:
        real = getattr(os, name, None)
        if real is not None:
            setattr(os, name, _one(real, host))
    for name in _TWO_PATHS:
        real = getattr(os, name, None)
        if real is not None:
            setattr(os, name, _two(real, host))


def _one(real: Callable[..., Any], host: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
        return real(host(path), *args, **kwargs)

    return call


def _two(real: Callable[..., Any], host: Callable[[Any], Any]) -> Callable[..., Any]:
    def call(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        return real(host(src), host(dst), *args, **kwargs)

    return call


if __name__ == "__main__":
    install(json.loads(os.environ.get("MODAL_FAKE_MOUNTS") or "{}"))
    runpy.run_module("modal._container_entrypoint", run_name="__main__", alter_sys=True)
