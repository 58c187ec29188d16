"""The detached local supervisor: `python -m trainward.backends.supervisor PROC_DIR`.

It runs in its own session (the local backend starts it with start_new_session), records
its pid, runs the worker, retries it the way Modal retries a container (what each exit code
means, retried or not, is `trainward.core.states.exit_meaning`), enforces the per-attempt
timeout, and writes exit.json when it ends. `trainward stop` sends SIGTERM to the whole
process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from trainward.backends.local import ProcSpec, spawn_grace_s
from trainward.backends.outputlog import OutputLog
from trainward.core.contracts import JsonObject
from trainward.core.fileio import atomic_write
from trainward.core.proc import start_token
from trainward.core.states import exit_meaning

KILL_GRACE_S = 20.0


class Supervisor:
    def __init__(self, pdir: Path) -> None:
        self.pdir = pdir
        self.spec = ProcSpec.from_json(json.loads((pdir / "spec.json").read_text()))
        self.child: subprocess.Popen[bytes] | None = None
        self.log = OutputLog(pdir / "output.log")
        self.stopping = False
        self.started_at = time.time()

    def _write(self, name: str, doc: JsonObject) -> None:
        atomic_write(self.pdir / name, json.dumps(doc, indent=2).encode())

    def _on_term(self, signum: int, frame: Any) -> None:
        self.stopping = True
        if self.child and self.child.poll() is None:
            self.child.send_signal(signal.SIGTERM)

    def _attempt(self, attempt: int) -> tuple[int, str | None]:
        env = {
            **os.environ,
            "TRAINWARD_VOLUME_ROOT": self.spec.volume_root,
            "TRAINWARD_ATTEMPT": str(attempt),
            "TRAINWARD_BACKEND": "local",
        }
        self.child = subprocess.Popen(
            [sys.executable, "-m", "trainward.runs.worker", str(self.pdir / "spec.json")],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.child.stdout is not None and self.child.stderr is not None
        pumps = [
            self.log.pump(self.child.stdout, "stdout"),
            self.log.pump(self.child.stderr, "stderr"),
        ]
        code, reason = self._wait(attempt)
        for pump in pumps:
            pump.join(timeout=5)
        return code, reason

    def _wait(self, attempt: int) -> tuple[int, str | None]:
        assert self.child is not None
        timeout = self.spec.timeout_s
        try:
            return self.child.wait(timeout=timeout), None
        except subprocess.TimeoutExpired:
            self.say(f"attempt {attempt} hit its timeout of {timeout} s; stopping it")
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(timeout=KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
            return self.child.returncode, f"timed out after {timeout} s"

    def say(self, message: str) -> None:
        self.log.write("system", f"[trainward] {message}")

    def too_late(self) -> bool:
        """A supervisor starting long after its spec was written belongs to a launch that
        readers may already have declared never started: it must not run."""
        age = time.time() - (self.pdir / "spec.json").stat().st_mtime
        return age > spawn_grace_s() / 2

    def run(self) -> int:
        if self.too_late():
            self.say("not starting: the spawn came after its grace period")
            return 1
        cwd = os.environ.get("TRAINWARD_CWD")
        if cwd:
            os.chdir(cwd)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        retries = self.spec.retries
        attempt, code, reason = 0, 1, None
        while True:
            attempt += 1
            self._write(
                "proc.json",
                {
                    "pid": os.getpid(),
                    "pgid": os.getpgid(0),
                    "start_token": start_token(os.getpid()),
                    "started_at": self.started_at,
                    "attempt": attempt,
                    "run": self.spec.run,
                },
            )
            code, reason = self._attempt(attempt)
            meaning = exit_meaning(code, stop_requested=self.stopping)
            if self.stopping or not meaning.retry or attempt > retries:
                break
            self.say(f"attempt {attempt} exited with {code}; retrying ({attempt}/{retries})")
            time.sleep(min(2.0 * attempt, 10.0))
        # The process's own exit status is the truth: a run that exits 0 after a stop was
        # sent finished (the stop came too late), and says so.
        state = {"finished": "finished", "stopped": "stopped"}.get(meaning.state, "failed")
        reason = None if state == "finished" else (reason or meaning.reason)
        self._write(
            "exit.json",
            {
                "state": state,
                "exit_code": code,
                "reason": reason,
                "ended_at": time.time(),
                "attempts": attempt,
            },
        )
        return 0 if state == "finished" else 1


def main() -> None:
    sys.exit(Supervisor(Path(sys.argv[1])).run())


if __name__ == "__main__":
    main()
