"""Sweep validation jobs: plan them, and run one (in a local process or a Modal container).

A job is a `ValidationJob` (core/sweep_contracts.py), plain data:

    slice     your program (validation.command or validation.function) plays `matchups`
              between members a and b in one direction, `count` games each
    evaluate  one run scored on a chunk of held-out games (the built-in trainer, or `evaluate`)
    match     a `match(ckpt_a, ckpt_b, game, side, data_dir) -> score of a` function on a chunk

The slice your program receives (a command: the JSON file named by $TRAINWARD_SLICE; a
function: the dict as its one argument):

    {"version": 1, "slice": "slice-argentum-ember-0-ab", "sweep": "tuner",
     "a": {"member": "argentum", "run": "tuner-argentum", "dir": "/vol/runs/tuner-argentum",
           "artifacts": {"weights.toml": "/vol/runs/tuner-argentum/weights.toml"}},
     "b": {...the same for member b...},
     "matchups": ["argentum-ember"], "direction": "ab", "games": 40, "seed": 2718281,
     "data_dir": "/vol/datasets/..."}

`direction` "ab": a takes the first side of each matchup (first deck, first move); "ba": b
does. `games` is per matchup. The result, from a's side (a command writes it as JSON to the
file named by $TRAINWARD_RESULT; a function returns it):

    {"wins": 30, "losses": 8, "draws": 2,
     "matchups": {"argentum-ember": {"wins": 30, "losses": 8, "draws": 2}}}   # optional

A command runs in the project (code_dir) with `python` meaning this interpreter; a non-zero
exit, a missing or malformed result, or `timeout_s` passing fails the slice.

    python -m trainward.sweep.validate JOB.json RESULT.json VOLUME_ROOT   (one job, one process)
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainward.core.loader import load_object
from trainward.core.paths import (
    CHECKPOINTS_DIR,
    EVENTS_FILE,
    METRICS_FILE,
    RUN_FILE,
    STATUS_FILE,
    run_path,
)
from trainward.core.plugins import trainer_plugin
from trainward.core.sweep_contracts import Direction, ValidationJob, ValidationPlan
from trainward.errors import NotFound, TrainwardError, ValidationFailed

ENV_SLICE = "TRAINWARD_SLICE"
ENV_RESULT = "TRAINWARD_RESULT"
LEDGER_FILES = {RUN_FILE, STATUS_FILE, METRICS_FILE, EVENTS_FILE}
TAIL_LINES = 15
JsonObject = dict[str, Any]


def load_function(target: str, code_dir: str | None = None) -> Callable[..., Any]:
    fn: Callable[..., Any] = load_object(target, code_dir=code_dir, what="validation function")
    return fn


def checkpoint_of(volume_root: Path, run: str) -> Path:
    """The run's best checkpoint, else its latest. Raises NotFound when it has neither."""
    base = volume_root / run_path(run) / CHECKPOINTS_DIR
    for name in ("best.pt", "latest.pt"):
        if (base / name).is_file():
            return base / name
    raise NotFound(
        f"run '{run}' has no checkpoint to validate (looked for best.pt and latest.pt in {base})",
        hint="did it fail before its first checkpoint? `trainward status " + run + "`",
    )


# -- planning -------------------------------------------------------------------------------------


def slice_jobs(
    v: ValidationPlan,
    a: tuple[str, str],
    b: tuple[str, str],
    *,
    sweep: str,
    data_path: str,
    code_dir: str | None,
) -> list[ValidationJob]:
    """Every slice of one pair of members, `(run, member name)` each: chunks of `v.chunk`
    matchups, in both directions, `v.games` games per matchup."""
    matchups = list(v.matchups) or ["all"]
    chunks = [tuple(matchups[i : i + v.chunk]) for i in range(0, len(matchups), v.chunk)]
    directions: tuple[Direction, Direction] = ("ab", "ba")
    jobs = []
    for (i, chunk), direction in itertools.product(enumerate(chunks), directions):
        job_id = f"slice-{a[1]}-{b[1]}-{i}-{direction}"
        jobs.append(
            ValidationJob(
                job_id=job_id,
                kind="slice",
                data_path=data_path,
                a=a[0],
                b=b[0],
                member_a=a[1],
                member_b=b[1],
                sweep=sweep,
                direction=direction,
                matchups=chunk,
                count=v.games,
                seed=zlib.crc32(f"{sweep}/{job_id}".encode()),
                command=v.command,
                function=v.function,
                code_dir=code_dir,
                timeout_s=v.timeout_s,
            )
        )
    return jobs


def evaluate_jobs(
    run: str,
    checkpoint: str,
    games: Sequence[int],
    *,
    chunk: int,
    data_path: str,
    metric: str,
    evaluate: str | None,
) -> list[ValidationJob]:
    """One run's scoring, split into jobs of `chunk` games (parallel workers take one each)."""
    return [
        ValidationJob(
            job_id=f"eval-{run}-{i}",
            kind="evaluate",
            run=run,
            checkpoint=checkpoint,
            games=tuple(games[i : i + chunk]),
            data_path=data_path,
            metric=metric,
            evaluate=evaluate,
        )
        for i in range(0, len(games), chunk)
    ]


def match_jobs(
    a: str,
    b: str,
    ckpts: dict[str, str],
    games: Sequence[int],
    *,
    chunk: int,
    data_path: str,
    match: str,
) -> list[ValidationJob]:
    return [
        ValidationJob(
            job_id=f"match-{a}-{b}-{i}",
            kind="match",
            a=a,
            b=b,
            checkpoint_a=ckpts[a],
            checkpoint_b=ckpts[b],
            games=tuple(games[i : i + chunk]),
            data_path=data_path,
            match=match,
        )
        for i in range(0, len(games), chunk)
    ]


# -- running one job ------------------------------------------------------------------------------


def run_job(job: ValidationJob, volume_root: Path, code_dir: str | None = None) -> JsonObject:
    """Run one validation job against a mounted volume; returns its result document.
    `code_dir` overrides the job's (a container has the project elsewhere)."""
    code_dir = code_dir or job.code_dir
    if job.kind == "slice":
        return run_slice(job, volume_root, code_dir)
    if job.kind == "match":
        return _run_match(job, volume_root, code_dir)
    return _run_evaluate(job, volume_root, code_dir)


def _run_match(job: ValidationJob, volume_root: Path, code_dir: str | None) -> JsonObject:
    match = load_function(job.match or "", code_dir)
    data_dir = volume_root / job.data_path
    ckpt_a, ckpt_b = volume_root / (job.checkpoint_a or ""), volume_root / (job.checkpoint_b or "")
    scores = {
        f"{g}:{side}": float(match(ckpt_a, ckpt_b, g, side, data_dir))
        for g in job.games
        for side in (0, 1)
    }
    return {"job_id": job.job_id, "kind": "match", "a": job.a, "b": job.b, "scores": scores}


def _side_scores(entry: JsonObject, metric: str) -> list[float]:
    players = entry.get("players")
    if players:
        return [float(p[metric]) for p in players]
    return [float(entry[metric])] * 2


def _run_evaluate(job: ValidationJob, volume_root: Path, code_dir: str | None) -> JsonObject:
    if job.evaluate:
        evaluate = load_function(job.evaluate, code_dir)
    else:
        evaluate = trainer_plugin("builtin").evaluate
    result = evaluate(
        volume_root / (job.checkpoint or ""), volume_root / job.data_path, games=list(job.games)
    )
    metric = job.metric or ""
    per_game = {str(e["game"]): _side_scores(e, metric) for e in result["per_game"].values()}
    return {"job_id": job.job_id, "kind": "evaluate", "run": job.run, "per_game": per_game}


def member_side(volume_root: Path, run: str, member: str) -> JsonObject:
    """One side of a slice: the member's run directory and the files it wrote there."""
    run_dir = volume_root / run_path(run)
    if not run_dir.is_dir():
        raise ValidationFailed(
            f"member '{member}' has no run directory {run_dir}",
            hint=f"was run '{run}' trained? `trainward status {run}`",
        )
    artifacts = {
        str(p.relative_to(run_dir)): str(p)
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and _is_artifact(p.relative_to(run_dir))
    }
    return {"member": member, "run": run, "dir": str(run_dir), "artifacts": artifacts}


def _is_artifact(rel: Path) -> bool:
    """A file the member's program wrote: not the ledger, not hidden, not half-written."""
    hidden = any(part.startswith(".") for part in rel.parts)
    return str(rel) not in LEDGER_FILES and not hidden and rel.suffix not in (".tmp", ".part")


def slice_document(job: ValidationJob, volume_root: Path) -> JsonObject:
    return {
        "version": 1,
        "slice": job.job_id,
        "sweep": job.sweep,
        "a": member_side(volume_root, job.a or "", job.member_a or ""),
        "b": member_side(volume_root, job.b or "", job.member_b or ""),
        "matchups": list(job.matchups),
        "direction": job.direction,
        "games": job.count,
        "seed": job.seed,
        "data_dir": str(volume_root / job.data_path),
    }


def run_slice(job: ValidationJob, volume_root: Path, code_dir: str | None) -> JsonObject:
    doc = slice_document(job, volume_root)
    if job.function:
        raw = load_function(job.function, code_dir)(doc)
    else:
        raw = _run_command(job, doc, code_dir)
    counts = check_result(raw, job)
    return {
        "job_id": job.job_id,
        "kind": "slice",
        "a": job.a,
        "b": job.b,
        "direction": job.direction,
        **counts,
    }


def _run_command(job: ValidationJob, doc: JsonObject, code_dir: str | None) -> Any:
    argv = list(job.command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    with tempfile.TemporaryDirectory(prefix="trainward-slice-") as tmp:
        slice_file, result_file = Path(tmp) / "slice.json", Path(tmp) / "result.json"
        slice_file.write_text(json.dumps(doc, indent=2))
        env = {**os.environ, ENV_SLICE: str(slice_file), ENV_RESULT: str(result_file)}
        code, output = _call(argv, code_dir, env, job.timeout_s)
        if code != 0:
            raise ValidationFailed(
                f"validation command {' '.join(job.command)!r} exited with {code} on slice "
                f"{job.job_id}: {_tail(output)}",
                hint="run the command by hand with TRAINWARD_SLICE and TRAINWARD_RESULT set",
            )
        try:
            return json.loads(result_file.read_text())
        except (OSError, ValueError) as err:
            raise ValidationFailed(
                f"validation command {' '.join(job.command)!r} wrote no JSON result for slice "
                f"{job.job_id} ({type(err).__name__}: {err})",
                hint="write {wins, losses, draws} as JSON to the file named by $TRAINWARD_RESULT",
            ) from None


def _call(
    argv: list[str], cwd: str | None, env: dict[str, str], timeout: int | None
) -> tuple[int, str]:
    """Run argv in its own process group; kill the whole group when `timeout` passes."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise ValidationFailed(
            f"validation command {' '.join(argv)!r} ran past its {timeout} s timeout: {_tail(out)}",
            hint="raise validation.timeout (or --validation-timeout), or play fewer games per slice",
        ) from None
    return proc.returncode, out or ""


def _tail(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return " | ".join(lines[-TAIL_LINES:]) or "(no output)"


def _counts(doc: Any, where: str, job: ValidationJob) -> dict[str, int]:
    if not isinstance(doc, dict):
        raise ValidationFailed(
            f"slice {job.job_id}: {where} must be a mapping with wins, losses, draws; got {doc!r}"[
                :300
            ],
            hint="see the result shape in docs/sweeps.md",
        )
    out = {}
    for key in ("wins", "losses", "draws"):
        value = doc.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationFailed(
                f"slice {job.job_id}: {where}.{key} must be a non-negative integer, got {value!r}",
                hint="count games from member a's side: wins, losses, draws",
            )
        out[key] = value
    return out


def check_result(raw: Any, job: ValidationJob) -> JsonObject:
    """The program's result, checked: totals (summed from `matchups` when absent) and matchups."""
    by_matchup = {}
    if isinstance(raw, dict) and isinstance(raw.get("matchups"), dict):
        by_matchup = {str(m): _counts(c, f"matchups.{m}", job) for m, c in raw["matchups"].items()}
    if isinstance(raw, dict) and by_matchup and not ({"wins", "losses", "draws"} & set(raw)):
        total = {k: sum(c[k] for c in by_matchup.values()) for k in ("wins", "losses", "draws")}
    else:
        total = _counts(raw, "the result", job)
    if not by_matchup and len(job.matchups) == 1:
        by_matchup = {job.matchups[0]: total}
    return {**total, "matchups": by_matchup}


def main(argv: list[str] | None = None) -> None:
    """One job in its own process: the local executor runs each job this way, so a crash or a
    timeout kills only that job."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.exit("usage: python -m trainward.sweep.validate JOB.json RESULT.json VOLUME_ROOT")
    job = ValidationJob.from_json(json.loads(Path(args[0]).read_text()))
    try:
        result = run_job(job, Path(args[2]))
    except TrainwardError as err:  # the message is the error; a traceback would bury it
        sys.exit(f"error: {err.message}")
    tmp = Path(args[1] + ".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, args[1])


__all__ = [
    "ENV_RESULT",
    "ENV_SLICE",
    "check_result",
    "evaluate_jobs",
    "match_jobs",
    "run_job",
    "slice_jobs",
]


if __name__ == "__main__":
    main()
