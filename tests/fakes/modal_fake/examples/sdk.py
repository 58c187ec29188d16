"""Drive the real modal SDK from a subprocess: ``python sdk.py COMMAND [ARGS...]``.

Each command prints one JSON object on stdout. Run it as a script (not ``-m``) so that
``toy_app`` is imported as a top-level module: Modal then mounts just that file, as it does
for ``modal run file.py``. The client is a process-wide singleton, so tests run every SDK
session in its own process.

Commands::

    detach-spawn FN ARGS_JSON [--hang]   app.run(detach=True) + FN.spawn(*args); --hang: never exit
    spawn APP FN ARGS_JSON               Function.from_name(APP, FN).spawn(*args)
    get FC_ID TIMEOUT                    FunctionCall.from_id(FC_ID).get(timeout=TIMEOUT)
    call APP FN ARGS_JSON TIMEOUT        spawn, then get through FunctionCall.from_id
    upload VOLUME LOCAL REMOTE [--force] Volume.batch_upload: put_file or put_directory
    read VOLUME PATH OUT                 Volume.read_file into the local file OUT
    ls VOLUME PATH [--recursive]         Volume.listdir
    rm VOLUME PATH                       Volume.remove_file
    reload-commit VOLUME                 Volume.reload() and Volume.commit() outside a container
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modal


def _emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def detach_spawn(fn_name: str, args_json: str, *flags: str) -> None:
    import toy_app

    with toy_app.app.run(detach=True):
        call = getattr(toy_app, fn_name).spawn(*json.loads(args_json))
        _emit(app_id=toy_app.app.app_id, function_call_id=call.object_id)
        while "--hang" in flags:
            time.sleep(3600)


def spawn(app_name: str, fn_name: str, args_json: str) -> None:
    call = modal.Function.from_name(app_name, fn_name).spawn(*json.loads(args_json))
    _emit(function_call_id=call.object_id)


def _outcome(function_call_id: str, timeout: str) -> dict[str, Any]:
    call = modal.FunctionCall.from_id(function_call_id)
    try:
        return {"result": call.get(timeout=float(timeout))}
    except Exception as exc:
        return {"error": type(exc).__name__, "module": type(exc).__module__, "message": str(exc)}


def get(function_call_id: str, timeout: str) -> None:
    _emit(**_outcome(function_call_id, timeout))


def call(app_name: str, fn_name: str, args_json: str, timeout: str) -> None:
    function_call = modal.Function.from_name(app_name, fn_name).spawn(*json.loads(args_json))
    _emit(function_call_id=function_call.object_id, **_outcome(function_call.object_id, timeout))


def _volume(name: str) -> modal.Volume:
    return modal.Volume.from_name(name, create_if_missing=True)


def upload(name: str, local: str, remote: str, *flags: str) -> None:
    vol = _volume(name)
    try:
        with vol.batch_upload(force="--force" in flags) as batch:
            if Path(local).is_dir():
                batch.put_directory(local, remote)
            else:
                batch.put_file(local, remote)
    except FileExistsError as exc:
        _emit(error="FileExistsError", message=str(exc))
        return
    _emit(ok=True)


def read(name: str, path: str, out: str) -> None:
    with open(out, "wb") as f:
        for chunk in _volume(name).read_file(path):
            f.write(chunk)
    _emit(bytes=Path(out).stat().st_size)


def ls(name: str, path: str, *flags: str) -> None:
    entries = _volume(name).listdir(path, recursive="--recursive" in flags)
    _emit(entries=[{"path": e.path, "type": e.type.name, "size": e.size} for e in entries])


def rm(name: str, path: str) -> None:
    _volume(name).remove_file(path)
    _emit(ok=True)


def reload_commit(name: str) -> None:
    vol = _volume(name)
    vol.reload()
    vol.commit()
    _emit(ok=True)


COMMANDS: dict[str, Callable[..., None]] = {
    "detach-spawn": detach_spawn,
    "spawn": spawn,
    "get": get,
    "call": call,
    "upload": upload,
    "read": read,
    "ls": ls,
    "rm": rm,
    "reload-commit": reload_commit,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
