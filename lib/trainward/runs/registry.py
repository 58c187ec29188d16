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

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trainward.core import jsonl, paths
from trainward.core.contracts import ContractError, RegistryRecord
from trainward.core.fileio import locked
from trainward.core.proc import pid_alive
from trainward.core.states import LAUNCHED, LAUNCHING, NOT_LAUNCHED
from trainward.errors import RunExists, RunNotFound


class Registry:
    """The launcher's record of runs. Reads are tolerant: a line that is not a valid record
    is skipped and counted in `skipped` (with its line number), never fatal for the others."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or paths.registry_file()
        self.lock_path = self.path.with_name("runs.lock")
        self.skipped: list[str] = []

    # -- reading ------------------------------------------------------------------------------
    def _lines(self) -> Iterator[RegistryRecord]:
        self.skipped = []
        for number, row in jsonl.read_numbered(self.path, self.skipped):
            try:
                yield RegistryRecord.from_json(row)
            except ContractError as err:
                self.skipped.append(f"{self.path.name} line {number}: {err.message}")

    def records(self) -> list[RegistryRecord]:
        """The current record of every run, oldest launch first."""
        latest: dict[str, RegistryRecord] = {}
        for rec in self._lines():
            latest.pop(rec.run, None)  # re-insert so order follows the latest launch
            latest[rec.run] = rec
        return sorted(latest.values(), key=lambda r: r.launched_at or 0)

    def get(self, run: str) -> RegistryRecord | None:
        found = None
        for rec in self._lines():
            if rec.run == run:
                found = rec
        return found

    def resolve(self, ref: str) -> RegistryRecord:
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
            if rec.run == ref:
                return rec
        if ref.startswith(("ap-", "fc-")):  # a Modal app id or function-call id
            for rec in reversed(recs):
                if ref in rec.ids.values():
                    return rec
        known = [r.run for r in recs[-10:]]
        hint = (
            ("known runs: " + ", ".join(reversed(known))) if known else "no runs are registered yet"
        )
        raise RunNotFound(
            f"unknown run '{ref}'",
            hint=f"{hint}; `trainward runs` lists them, `trainward status --wandb E/P/RUN` reads W&B directly",
        )

    # -- writing ------------------------------------------------------------------------------
    def _append(self, rec: RegistryRecord) -> None:
        jsonl.append(self.path, rec.to_json(), fsync=True)

    def claim(
        self,
        record: RegistryRecord,
        *,
        allow_existing: Callable[[RegistryRecord], bool] = lambda rec: False,
        settle: Callable[[RegistryRecord], dict[str, Any] | None] | None = None,
    ) -> RegistryRecord:
        """Claim `record.run` atomically and append it in state `launching`.

        An existing record blocks the claim unless it is `not-launched`, or `allow_existing`
        accepts it (a resume of a run that is not active). A stale `launching` record (its
        launcher is dead) is first settled with `settle(rec)`: the ids of the run it started
        (`launched`), or None (`not-launched`: the name is free).
        """
        run = record.run
        with locked(self.lock_path):
            current = self.get(run)
            if current is not None and current.state == LAUNCHING:
                if _launcher_alive(current):
                    raise RunExists(
                        f"run '{run}' is being launched right now by pid {current.launcher_pid}",
                        hint="wait for that launch to finish, or pick another --run-name",
                    )
                current = _settled(current, settle(current) if settle else None)
                self._append(current)
            if (
                current is not None
                and current.state != NOT_LAUNCHED
                and not allow_existing(current)
            ):
                when = time.strftime("%Y-%m-%d %H:%M", time.localtime(current.launched_at or 0))
                raise RunExists(
                    f"run '{run}' already exists (launched {when})",
                    hint=f"pick another --run-name, check it with `trainward status {run}`, "
                    f"or continue it with `--resume {run}` once it has stopped",
                )
            claimed = record.with_(
                state=LAUNCHING,
                launch_id=uuid.uuid4().hex[:12],
                launcher_pid=os.getpid(),
                launcher_host=os.uname().nodename,
                launched_at=time.time(),
            )
            self._append(claimed)
            return claimed

    def update(self, record: RegistryRecord, **fields: Any) -> RegistryRecord:
        """Append a new snapshot of `record` with `fields` changed (same launch)."""
        new = record.with_(**fields, updated_at=time.time())
        with locked(self.lock_path):
            self._append(new)
        return new

    def view(
        self, record: RegistryRecord, find: Callable[[RegistryRecord], dict[str, Any] | None]
    ) -> RegistryRecord:
        """A record as readers should see it: a dead launcher's `launching` claim is resolved
        against the backend (`find(rec)`: the run's ids there, or None). Writes nothing."""
        if record.state != LAUNCHING or _launcher_alive(record):
            return record
        return _settled(record, find(record))


def _settled(rec: RegistryRecord, ids: dict[str, Any] | None) -> RegistryRecord:
    """A dead launcher's claim, resolved: the run it started, or not launched."""
    if ids is not None:
        merged = {**rec.ids, **ids}
        return rec.with_(state=LAUNCHED, ids=merged, note="launcher died after the run started")
    return rec.with_(state=NOT_LAUNCHED, reason="launcher died before the run started")


def _launcher_alive(rec: RegistryRecord) -> bool:
    return pid_alive(rec.launcher_pid) and rec.launcher_host == os.uname().nodename


__all__ = ["Registry"]
