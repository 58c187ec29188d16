"""A function of your own Modal app, adopted as a run (`entrypoint: {modal_function: app.py::fn}`).

No trainward worker wraps it, so trainward knows what it can read without a line of your
code, and says so:

- at launch, the `--` arguments become the function's keyword arguments, with `{run}`,
  `{run_path}`, `{volume}` and `{resume}` filled in, and the run's identity reaches the
  function as environment variables (`TRAINWARD_RUN`, `TRAINWARD_RUN_PATH`, W&B's
  `WANDB_RUN_ID`, ...), so its own `wandb.init()` lands on the run status joins;
- for status, `observe` builds the ledger's view from the function call's state (running,
  finished, failed, stopped) and the files under `runs/<run>/` on the config's volume: the
  newest one is the run's last activity, and matches of `checkpoints.paths` are its
  checkpoints (complete once unchanged for `checkpoints.settle` seconds, or once the call has
  ended), indexed by size (nothing can hash a file on a volume remotely; `pull` records the
  sha256 of what it downloaded);
- metrics come from W&B when the config turns it on (`join_tracker`); the verdict stays the
  compute's.

A function that writes the ledger itself (`trainward.open_run()` with TRAINWARD_RUN_DIR set
to its mounted run directory) has a status.json, which is then read as for any run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from trainward.backends.base import ComputeState, FileEntry, ReadOnlyBackend
from trainward.config.experiment import Wandb
from trainward.core.contracts import CheckpointEntry, LedgerStatus, RunInfo
from trainward.core.paths import run_path
from trainward.errors import NotFound
from trainward.runs import program
from trainward.runs.checkpoints import step_of
from trainward.runs.runstatus import RunStatus, judge_targets
from trainward.runs.trackerjoin import apply_tracker

ENV_RUN_PATH = "TRAINWARD_RUN_PATH"  # runs/<run>, relative to the volume's root
ENV_VOLUME = "TRAINWARD_VOLUME"
NOTE = (
    "an adopted Modal function: trainward reads its call's state and the files under "
    "{path} on volume {volume} (its newest file is its last activity){metrics}"
)
_COMPUTE_TO_LEDGER = {
    "pending": "pending",
    "running": "running",
    "finished": "finished",
    "failed": "failed",
    "stopped": "stopped",
}


def is_adopted(config: Mapping[str, Any] | None) -> bool:
    entry = (config or {}).get("entrypoint")
    return isinstance(entry, dict) and "modal_function" in entry


def call_args(args: tuple[str, ...], run: str, volume: str, resume: str | None) -> tuple[str, ...]:
    """The `--` arguments with the run's placeholders filled in (`{resume}` and the flag
    before it disappear when there is nothing to resume from)."""
    values = {"run": run, "run_path": run_path(run), "volume": volume, "resume": resume or ""}
    return tuple(program.expand(list(args), values))


def identity_env(
    run: str, volume: str, info: RunInfo, wb: Wandb, resume: str | None
) -> dict[str, str]:
    """What the adopted function finds in its environment."""
    env = {"TRAINWARD_RUN": run, ENV_RUN_PATH: run_path(run), ENV_VOLUME: volume}
    if resume:
        env["TRAINWARD_RESUME"] = resume
    return {**env, **program.wandb_env_of(info, wb, run)}


def _matches(rel: str, pattern: str) -> bool:
    """Glob one path segment at a time (`*` never crosses a `/`)."""
    parts, pats = rel.split("/"), pattern.strip("/").split("/")
    return len(parts) == len(pats) and all(
        fnmatch.fnmatchcase(a, b) for a, b in zip(parts, pats, strict=True)
    )


def _groups(files: list[FileEntry], base: str) -> dict[str, list[FileEntry]]:
    """Every file, and every folder with the files under it, by path relative to `base`."""
    out: dict[str, list[FileEntry]] = {}
    for f in files:
        rel = f.path[len(base) + 1 :]
        if any(p.startswith(".") for p in rel.split("/")):
            continue
        parts = rel.split("/")
        out.setdefault(rel, []).append(f)
        for i in range(1, len(parts)):
            out.setdefault("/".join(parts[:i]) + "/", []).append(f)
    return out


def find_checkpoints(
    files: list[FileEntry],
    base: str,
    patterns: list[str],
    *,
    settle: float,
    ended: bool,
    now: float,
) -> list[CheckpointEntry]:
    """Complete matches of the patterns, oldest first (by their newest file)."""
    found: list[CheckpointEntry] = []
    for key, members in _groups(files, base).items():
        folder = key.endswith("/")
        rel = key.rstrip("/")
        if not any(p.endswith("/") == folder and _matches(rel, p) for p in patterns):
            continue
        newest = max(m.mtime for m in members)
        if not ended and now - newest < settle:
            continue
        found.append({"path": rel, "step": step_of(rel) or 0, "size": sum(m.size for m in members),
                      "time": newest, "kind": "folder" if folder else "file",
                      "files": len(members)})  # fmt: skip
    return sorted(found, key=lambda e: (e.get("time") or 0.0, e.get("step") or 0))


def observe(
    reader: ReadOnlyBackend,
    volume: str,
    run: str,
    info: RunInfo,
    compute: ComputeState | None,
    now: float,
) -> LedgerStatus:
    """The ledger's view of an adopted run, from its call's state and its files."""
    base = run_path(run)
    try:
        files = [e for e in reader.list_files(volume, base, recursive=True) if not e.is_dir]
    except NotFound:
        files = []
    ckpt = info.config.get("checkpoints") or {}
    ended = compute is not None and not compute.active
    found = find_checkpoints(
        files,
        base,
        list(ckpt.get("paths") or []),
        settle=float(ckpt.get("settle", 5.0)),
        ended=ended,
        now=now,
    )
    st: LedgerStatus = {"run": run, "attempt": 1}
    state = _COMPUTE_TO_LEDGER.get(compute.state) if compute else None
    if state:
        st["state"] = state  # type: ignore[typeddict-item]
    if compute and compute.started_at:
        st["started_at"] = st["attempt_started_at"] = compute.started_at
    if ended and compute:
        st["ended_at"] = compute.ended_at
        st["reason"] = compute.reason
    if files:
        st["last_output_at"] = max(f.mtime for f in files)
    if found:
        st["checkpoints"] = {"latest": found[-1]}
        if len(found) > 1:
            st["checkpoints"]["previous"] = found[-2]
        st["step"] = found[-1].get("step") or 0
    return st


def note(volume: str, run: str, wandb_mode: str | None) -> str:
    metrics = (
        "; metrics come from W&B"
        if wandb_mode == "online"
        else "; it reports no metrics to trainward (turn on wandb: in the config for them)"
    )
    return NOTE.format(path=run_path(run) + "/", volume=volume, metrics=metrics)


def join_tracker(out: RunStatus, tr: Any, info: RunInfo, *, stale_after: float, now: float) -> None:
    """W&B's metrics, progress and last log time for an adopted run; the verdict stays the
    compute's, except that a live run W&B has heard nothing from for `stale_after` is stale."""
    keep = (out.state, out.verdict, out.reason, out.cost, out.checkpoints, out.config)
    names, started = out.metric_names, out.timing.started_at
    apply_tracker(out, tr, has_ledger=False, stale_after=stale_after, now=now)
    wb_verdict, wb_reason = out.verdict, out.reason
    out.state, out.verdict, out.reason, out.cost, out.checkpoints, out.config = keep
    out.metric_names = names
    out.timing.started_at = started or out.timing.started_at
    last = out.latest if any(k.startswith("val") for k in out.latest) else {}
    out.targets, out.categories = judge_targets(last, dict(info.targets), names)
    if out.verdict in ("running", "silent") and wb_verdict == "stale":
        out.verdict, out.reason = "stale", wb_reason
    elif out.verdict == "silent" and wb_verdict == "running":
        out.verdict, out.reason = "running", None
