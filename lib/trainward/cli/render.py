"""Every text renderer of the CLI, in one place: status, run lists, sweeps, launch plans.
Pure functions from documents to Markdown; no I/O here."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from trainward.core.contracts import LaunchPlan
from trainward.runs.runstatus import RunStatus

VERDICT_MARK = {
    "running": "RUNNING",
    "stale": "STALE",
    "zombie": "ZOMBIE",
    "finished": "FINISHED",
    "failed": "FAILED",
    "preempted": "PREEMPTED",
    "stopped": "STOPPED",
    "pending": "PENDING",
    "not-launched": "NOT LAUNCHED",
    "timed-out": "TIMED OUT",
    "silent": "SILENT",
    "unknown": "UNKNOWN",
}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m:02d}m"
    if m:
        return f"{m}m{s:02d}s"
    return f"{s}s"


def money(value: float | None) -> str:
    """Dollars; amounts under a cent keep four decimals (a CPU run costs $0.0042, not $0.00)."""
    if value is None:
        return "-"
    return f"${value:,.4f}" if 0 < abs(value) < 0.01 else f"${value:,.2f}"


def num(value: Any, pct: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if pct:
        return f"{100 * value:.1f}%"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def progress_line(s: RunStatus) -> str:
    p, t = s.progress, s.timing
    parts = []
    if p.epochs:
        parts.append(f"epoch {p.epoch or 0}/{p.epochs}")
    if p.steps_total:
        parts.append(f"step {p.step or 0}/{p.steps_total} ({p.pct or 0:.1f}%)")
    elif p.step:
        parts.append(f"step {p.step}")
    if t.eta_s is not None and t.eta_at is not None:
        parts.append(
            f"ETA {duration(t.eta_s)} ({time.strftime('%H:%M', time.localtime(t.eta_at))})"
        )
    if t.since_last_log_s is not None:
        parts.append(f"last log {duration(t.since_last_log_s)} ago")
    return " · ".join(parts) if parts else "no progress recorded yet"


def _validation(s: RunStatus) -> list[str]:
    if not s.validation:
        return []
    names = s.metric_names
    keys = [k for k in names.validation if any(k in r for r in s.validation)]
    cats = names.categories
    keys += sorted(
        {
            k
            for r in s.validation
            for k in r
            if k.startswith("val_") and not (cats and k.startswith(cats)) and k not in keys
        }
    )
    targets = {t.metric: t.target for t in s.targets}
    rows = [[str(r.get("epoch", "-"))] + [num(r.get(k)) for k in keys] for r in s.validation]
    rows.append(["target"] + [targets.get(k, "") for k in keys])
    return [
        "",
        "### Validation",
        "",
        *_table(["epoch"] + [names.label(k) for k in keys], rows),
    ]


def _categories(s: RunStatus) -> list[str]:
    if not s.categories:
        return []
    rows = []
    for c in s.categories:
        flag = {True: "ok", False: "BELOW TARGET", None: ""}[c.ok]
        rows.append([c.category, num(c.value, pct=True), c.target or "", flag])
    epoch = s.validation[-1].get("epoch") if s.validation else "-"
    return [
        "",
        f"### Action categories (epoch {epoch})",
        "",
        *_table(["category", "accuracy", "target", "flag"], rows),
    ]


def _state_cell(s: RunStatus) -> str:
    """The verdict and what it was judged from: the ledger (or W&B alone) and the compute."""
    source = "W&B" if s.metrics_source == "wandb" else "ledger"
    compute = (s.compute or {}).get("state", "-") if s.metrics_source != "wandb" else None
    return f"{s.verdict} ({source}: {s.state or '-'}" + (
        f", compute: {compute})" if compute else ")"
    )


def render_status(s: RunStatus) -> str:
    """The Markdown report: header, progress, validation table, categories, links."""
    head = f"## {s.run}: {VERDICT_MARK.get(s.verdict, s.verdict.upper())}"
    lines = [head, ""]
    if s.reason:
        lines += [f"> {s.reason}", ""]
    c = s.config
    cfg = " ".join(f"{k}={v}" for k, v in c.items() if v is not None and k != "config")
    lines += _table(
        ["state", "runtime", "cost so far", "projected", "config"],
        [
            [
                _state_cell(s),
                duration(s.timing.runtime_s),
                money(s.cost.so_far_usd),
                money(s.cost.projected_usd),
                cfg or "-",
            ]
        ],
    )
    lines += ["", f"**Progress:** {progress_line(s)}"]
    if s.resumes or (s.attempt or 0) > 1:
        lines.append(f"**Attempts:** {s.attempt} (resumed {s.resumes} time(s))")
    if s.cost.price_per_hour is not None:
        lines.append(f"**Price:** {money(s.cost.price_per_hour)}/h ({s.cost.source})")
    judged = [t for t in s.targets if t.ok is not None]
    if judged:
        misses = [f"{t.metric} {num(t.value)} vs {t.target}" for t in judged if not t.ok]
        met = len(judged) - len(misses)
        lines.append(
            f"**Targets:** {met}/{len(judged)} met"
            + (f" (missed: {'; '.join(misses)})" if misses else "")
        )
    if s.best:
        lines.append(
            f"**Best:** {s.best['metric']} = {num(s.best['value'])} at epoch {s.best.get('epoch')}"
        )
    lines += _validation(s) + _categories(s)
    if s.disagreements:
        lines += ["", "### Disagreements", ""] + [f"- {d}" for d in s.disagreements]
    if s.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in s.notes]
    if s.links:
        lines += ["", "### Links", ""] + [f"- {k}: {v}" for k, v in s.links.items()]
    lines += ["", f"_metrics from {s.metrics_source or 'nowhere yet'}_"]
    return "\n".join(lines)


def render_runs(statuses: list[RunStatus]) -> str:
    """`status all` / `runs`: one row per run."""
    if not statuses:
        return "No runs yet. Launch one: trainward launch experiments/smoke-cpu.yaml"
    rows = []
    for s in statuses:
        p = s.progress
        prog = f"{p.epoch or 0}/{p.epochs or '-'} ({p.pct or 0:.0f}%)" if p.epochs else "-"
        primary = s.metric_names.primary
        value = (s.validation[-1] if s.validation else s.latest).get(primary) if primary else None
        shown = f"{s.metric_names.label(primary)} {num(value)}" if primary else "-"
        rows.append(
            [
                s.run,
                s.backend or "-",
                s.verdict,
                prog,
                shown,
                duration(s.timing.runtime_s),
                money(s.cost.so_far_usd),
            ]
        )
    return "\n".join(
        _table(["run", "backend", "verdict", "epoch", "primary metric", "runtime", "cost"], rows)
    )


def render_sweep(doc: dict[str, Any]) -> str:
    """`status SWEEP`: members, validation progress and failures, leaderboard, matrix, cost."""
    v = doc["validation"]
    lines = [f"## Sweep {doc['sweep']}: {doc['state'].upper()} ({doc['backend']})", ""]
    if doc.get("error"):
        lines += [f"> {doc['error']}", ""]
    lines += [f"- {e}" for e in doc.get("errors") or []] + ([""] if doc.get("errors") else [])
    rows = [
        [
            r["run"],
            r.get("verdict", "-"),
            f"{(r.get('progress') or {}).get('pct') or 0:.0f}%",
            money(r.get("cost_usd")),
            r.get("reason") or "",
        ]
        for r in doc["runs"]
    ]
    lines += _table(["run", "verdict", "progress", "cost", "note"], rows)
    lines += [
        "",
        f"**Validation:** {v['mode']} · {v['done']}/{v['total']} jobs"
        + (f" · {v['failed']} failed" if v.get("failed") else "")
        + f" · {v['games']} games",
    ]
    lines += [
        f"- failed {f['job_id']} after {f['attempts']} attempts: {f['error']}"
        for f in v.get("failed_jobs") or []
    ]
    lines += _sweep_board(v) + _sweep_cost(doc)
    if doc.get("winner") or doc.get("deployed"):
        lines += ["", _sweep_deployed(doc)]
    if doc.get("saved_to"):
        lines.append(f"**Results:** {doc['saved_to']}")
    return "\n".join(lines)


def _sweep_board(v: dict[str, Any]) -> list[str]:
    if not v.get("leaderboard"):
        return []
    lb = [
        [
            str(r["rank"]),
            r["run"],
            num(r.get("points")),
            num(r.get("wins")),
            num(r.get("draws", r.get("ties"))),
            num(r.get("losses")),
            num(r.get("win_rate"), pct=True),
            num(r.get("mean")),
        ]
        for r in v["leaderboard"]
    ]
    lines = ["", "### Leaderboard", ""]
    lines += _table(["rank", "run", "points", "W", "D", "L", "win rate", "mean"], lb)
    runs = [r["run"] for r in v["leaderboard"]]
    matrix = v.get("matrix") or {}
    if matrix:
        lines += ["", "### Matrix (row vs column: win rate, W-D-L)", ""]
        lines += _table(
            ["vs", *runs], [[a, *(_matrix_cell(matrix, a, b) for b in runs)] for a in runs]
        )
    return lines


def _matrix_cell(matrix: dict[str, Any], a: str, b: str) -> str:
    if a == b:
        return "-"
    cell = (matrix.get(a) or {}).get(b)
    if not isinstance(cell, dict):  # a bare win rate (results written by older versions)
        return num(cell, pct=True)
    return (
        f"{num(cell.get('win_rate'), pct=True)} ({cell['wins']}-{cell['draws']}-{cell['losses']})"
    )


def _sweep_cost(doc: dict[str, Any]) -> list[str]:
    cost, b = doc.get("cost"), doc.get("budget") or {}
    lines = []
    if cost:
        n = len(cost["jobs"])
        lines.append(
            f"**Cost:** {money(cost['total_usd'])} over {n} jobs (training "
            f"{money(cost['training_usd'])}, validation {money(cost['validation_usd'])})"
        )
    if b.get("max_cost_usd") is not None or b.get("max_gpu_hours") is not None:
        lines.append(
            f"**Budget:** spent {money(b.get('spent_usd'))} of {money(b.get('max_cost_usd'))}; "
            f"{b.get('spent_gpu_hours', 0):.2f} of {b.get('max_gpu_hours') or '-'} GPU-h"
        )
    return ["", *lines] if lines else []


def _sweep_deployed(doc: dict[str, Any]) -> str:
    deployed = doc.get("deployed") or {}
    if deployed.get("files"):
        files = ", ".join(f["path"] for f in deployed["files"])
        return f"**Deployed:** {len(deployed['files'])} files: {files}"
    if deployed.get("path"):
        return f"**Winner:** {doc['winner']} → {deployed['path']}"
    return f"**Winner:** {doc.get('winner') or '-'} (bring it home: trainward sweep deploy {doc['sweep']})"


def render_sweep_deploy(doc: dict[str, Any]) -> str:
    """`sweep deploy NAME`: what was written where."""
    lines = [f"Sweep {doc['sweep']} brought home: results in {doc['saved_to']}"]
    for f in doc.get("files") or []:
        lines.append(
            f"  {f['member']}: {f['artifact']} -> {f['path']} (sha256 {f['sha256'][:12]}…)"
        )
    if doc.get("path"):
        lines.append(f"  winner {doc['run']} -> {doc['path']} (sha256 {doc['sha256'][:12]}…)")
    lines += [f"  skipped {s}" for s in doc.get("skipped") or []]
    return "\n".join(lines)


def render_plan(plan: LaunchPlan, dry_run: bool) -> str:
    """A launch plan (`launch` and `launch --dry-run`)."""
    cost, res = plan.cost, plan.resources
    head = "Plan (dry run, nothing launched)" if dry_run else "Launched (detached)"
    lines = [
        f"{head}: {plan.run} on {plan.backend}",
        f"  config   {plan.config} (hash {plan.config_hash[:12]})",
        f"  compute  gpu={res.gpu or 'none'} cpu={res.cpu} timeout={res.timeout_s}s retries={res.retries}"
        + (f" max_runtime={res.max_runtime_s}s" if res.max_runtime_s else ""),
        f"  data     {plan.data.get('volume_path')} on volume {plan.volume}: {plan.data.get('action')}",
        f"  cost     {money(cost.price_per_hour)}/h ({cost.price_source}); "
        f"expected {money(cost.expected_usd)}, worst case {money(cost.max_usd)}",
    ]
    if plan.args:
        lines.append(f"  args     {' '.join(plan.args)}")
    for step in plan.environment.get("image") or []:
        lines.append(f"  image    {step}")
    if plan.environment.get("packages"):
        lines.append(f"  packages {', '.join(plan.environment['packages'])} (installed here)")
    if plan.wandb:
        lines.append(f"  wandb    {plan.wandb.url or plan.wandb.project}")
    if not dry_run:
        lines += [f"  watch    {plan.next['status']}", f"  logs     {plan.next['logs']}"]
    return "\n".join(lines)


def render_pull(result: dict[str, Any]) -> str:
    """A pulled checkpoint: a file (size, sha256) or a folder (files verified one by one)."""
    if result.get("kind") == "folder":
        return (
            f"{result['path']}  ({result['files']} files, {result['verified_sha256']} verified by "
            f"sha256 through the ledger's manifest, step {result.get('step')})"
        )
    return (
        f"{result['path']}  ({result['size']} bytes, sha256 {result['sha256'][:12]}…, verified, "
        f"step {result['step']})"
    )
