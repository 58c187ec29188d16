"""The local record of launches: `$TRAINWARD_HOME/runs.jsonl`, append-only.

Each line is a full snapshot of one launch; the last line for a run is its current record.
A launch first *claims* the run name under an exclusive lock (`runs.lock`, released by the
kernel if the process dies), appending a record in state `launching` with the launcher's pid.
It then appends `launched` (with the backend's ids) or `not-launched` (with the reason).

If the launcher dies between the two, the record stays `launching` with a dead pid. Readers
resolve that against the backend without writing (`Registry.view`): the run exists there
(`launched`) or it does not (`not-launched`). A later claim of the same name does the same
under the lock, so two launches of one name can never both start a run.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trainward.core import jsonl, paths
from trainward.core.proc import pid_alive
from trainward.errors import RunExists, RunNotFound

LAUNCHING = "launching"
LAUNCHED = "launched"
NOT_LAUNCHED = "not-launched"


class Registry:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.registry_file()
        self.lock_path = self.path.with_name("runs.lock")

    # -- reading ------------------------------------------------------------------------------
    def _lines(self) -> Iterator[dict[str, Any]]:
        return (rec for rec in jsonl.read(self.path) if "run" in rec)

    def records(self) -> list[dict[str, Any]]:
        """The current record of every run, oldest launch first."""
        latest: dict[str, dict[str, Any]] = {}
        for rec in self._lines():
            latest.pop(rec["run"], None)  # re-insert so order follows the latest launch
            latest[rec["run"]] = rec
        return sorted(latest.values(), key=lambda r: r.get("launched_at") or 0)

    def get(self, run: str) -> dict[str, Any] | None:
        found = None
        for rec in self._lines():
            if rec["run"] == run:
                found = rec
        return found

    def resolve(self, ref: str) -> dict[str, Any]:
        """A record by exact run name, `latest`, or a backend id (`ap-...`, `fc-...`).
        Unknown names raise RunNotFound listing the known runs."""
        recs = self.records()
        if ref == "latest":
            if not recs:
                raise RunNotFound(
                    "no runs yet: the registry is empty",
                    hint=f"launch one with `trainward launch experiments/smoke-cpu.yaml` (registry: {self.path})",
                )
            return recs[-1]
        for rec in recs:
            if rec["run"] == ref:
                return rec
        if ref.startswith(("ap-", "fc-")):  # a Modal app id or function-call id
            for rec in reversed(recs):
                if ref in (rec.get("ids") or {}).values():
                    return rec
        known = [r["run"] for r in recs[-10:]]
        hint = (
            ("known runs: " + ", ".join(reversed(known))) if known else "no runs are registered yet"
        )
        raise RunNotFound(
            f"unknown run '{ref}'",
            hint=f"{hint}; `trainward runs` lists them, `trainward status --wandb E/P/RUN` reads W&B directly",
        )

    # -- writing ------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append(self, rec: dict[str, Any]) -> None:
        jsonl.append(self.path, rec, fsync=True)

    def claim(
        self,
        record: dict[str, Any],
        *,
        allow_existing: Callable[[dict[str, Any]], bool] = lambda rec: False,
        settle: Callable[[dict[str, Any]], str] | None = None,
    ) -> dict[str, Any]:
        """Claim `record["run"]` atomically and append it in state `launching`.

        An existing record blocks the claim unless it is `not-launched`, or `allow_existing`
        accepts it (a resume of a run that is not active). A stale `launching` record (its
        launcher is dead) is first settled with `settle(rec) -> launched|not-launched`.
        """
        run = record["run"]
        with self._locked():
            current = self.get(run)
            if current is not None and current.get("state") == LAUNCHING:
                if (
                    pid_alive(current.get("launcher_pid"))
                    and current.get("launcher_host") == os.uname().nodename
                ):
                    raise RunExists(
                        f"run '{run}' is being launched right now by pid {current.get('launcher_pid')}",
                        hint="wait for that launch to finish, or pick another --run-name",
                    )
                state = settle(current) if settle else NOT_LAUNCHED
                current = {**current, "state": state, "reason": "launcher died during launch"}
                self._append(current)
            if (
                current is not None
                and current.get("state") != NOT_LAUNCHED
                and not allow_existing(current)
            ):
                raise RunExists(
                    f"run '{run}' already exists (launched {time.strftime('%Y-%m-%d %H:%M', time.localtime(current.get('launched_at') or 0))})",
                    hint=f"pick another --run-name, check it with `trainward status {run}`, "
                    f"or continue it with `--resume {run}` once it has stopped",
                )
            claimed = {
                **record,
                "state": LAUNCHING,
                "launch_id": uuid.uuid4().hex[:12],
                "launcher_pid": os.getpid(),
                "launcher_host": os.uname().nodename,
                "launched_at": time.time(),
            }
            self._append(claimed)
            return claimed

    def update(self, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Append a new snapshot of `record` with `fields` changed (same launch)."""
        new = {**record, **fields, "updated_at": time.time()}
        with self._locked():
            self._append(new)
        return new

    def view(
        self, record: dict[str, Any], find: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        """A record as readers should see it: a dead launcher's `launching` claim is resolved
        against the backend (`find(rec)` says whether the run exists there). Writes nothing."""
        if record.get("state") != LAUNCHING:
            return record
        if (
            pid_alive(record.get("launcher_pid"))
            and record.get("launcher_host") == os.uname().nodename
        ):
            return record
        if find(record):
            return {**record, "state": LAUNCHED, "note": "launcher died after the run started"}
        return {**record, "state": NOT_LAUNCHED, "reason": "launcher died before the run started"}
