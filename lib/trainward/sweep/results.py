"""A sweep's results: merge the validation jobs into a leaderboard and a member x member matrix,
render the summary, and bring it home to a local folder (sweep/plot.py draws it).

The results document (`<volume>/sweeps/<sweep>/results.json`, and `results.json` in the
local folder):

    {"mode": "round-robin", "metric": ..., "better": "max", "games": [...] or N per matchup,
     "matchups": total games played,
     "leaderboard": [{"rank", "run", "points", "wins", "draws", "losses", "games", "win_rate", "mean"}],
     "matrix": {row run: {column run: {"wins", "losses", "draws", "games", "win_rate"}}},
     "by_matchup": {matchup: {run: {"wins", "losses", "draws", "games", "win_rate"}}},
     "winner": run, "complete": bool, "failed": [{"job_id", "a", "b", "error", "attempts"}],
     "members": {run: {"state", "reason", "best"}}}

A matrix cell is the row's record against the column; a draw counts half a point. Results of
files written before the matrix held records (a bare win rate per cell) still render.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trainward.core.sweep_contracts import JobStatus, SweepPlan, SweepState

TIE_EPS = 1e-9
JsonObject = dict[str, Any]
Cell = dict[str, float]


def _empty() -> Cell:
    return {"wins": 0, "losses": 0, "draws": 0, "games": 0, "points": 0.0}


def _add(cell: Cell, wins: int, losses: int, draws: int, points: float | None = None) -> None:
    cell["wins"] += wins
    cell["losses"] += losses
    cell["draws"] += draws
    cell["games"] += wins + losses + draws
    cell["points"] += wins + 0.5 * draws if points is None else points


def _public(cell: Cell) -> JsonObject:
    games = int(cell["games"])
    rate = round(cell["points"] / games, 4) if games else None
    return {
        "wins": int(cell["wins"]),
        "losses": int(cell["losses"]),
        "draws": int(cell["draws"]),
        "games": games,
        "win_rate": rate,
    }


def _better(x: float, y: float, better: str) -> int:
    """+1 if x beats y, -1 if y beats x, 0 for a tie (NaN loses)."""
    if (math.isnan(x) and math.isnan(y)) or abs(x - y) <= TIE_EPS:
        return 0
    if math.isnan(y) or (not math.isnan(x) and (x > y) == (better == "max")):
        return 1
    return -1


def _score_lists(
    results: list[JsonObject], runs: list[str], games: Sequence[int], better: str
) -> dict[tuple[str, str], list[float]]:
    """Built-in jobs: for each pair (a, b), a's score in each matchup (1 win, 0.5 tie, 0 loss)."""
    scores: dict[str, dict[str, list[float]]] = {r: {} for r in runs}
    direct: dict[tuple[str, str], list[float]] = {}
    for res in results:
        if res["kind"] == "evaluate" and res["run"] in scores:
            scores[res["run"]].update(res["per_game"])
        elif res["kind"] == "match":
            direct.setdefault((res["a"], res["b"]), []).extend(res["scores"].values())
    out: dict[tuple[str, str], list[float]] = {}
    for a, b in itertools.combinations(runs, 2):
        out[(a, b)] = direct.get((a, b)) or [
            (1 + _better(scores[a][str(g)][s], scores[b][str(g)][s], better)) / 2
            for g in games
            if str(g) in scores[a] and str(g) in scores[b]
            for s in (0, 1)
        ]
    return out


def _cells_from_scores(pairs: dict[tuple[str, str], list[float]]) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for (a, b), xs in pairs.items():
        wins = sum(1 for x in xs if x >= 1 - TIE_EPS)
        draws = sum(1 for x in xs if abs(x - 0.5) <= TIE_EPS)
        losses = len(xs) - wins - draws
        _add(cells.setdefault((a, b), _empty()), wins, losses, draws, sum(xs))
        _add(cells.setdefault((b, a), _empty()), losses, wins, draws, len(xs) - sum(xs))
    return cells


def _cells_from_slices(
    results: list[JsonObject],
) -> tuple[dict[tuple[str, str], Cell], dict[str, dict[str, Cell]]]:
    cells: dict[tuple[str, str], Cell] = {}
    by_matchup: dict[str, dict[str, Cell]] = {}
    for res in (r for r in results if r["kind"] == "slice"):
        a, b, w, lo, d = res["a"], res["b"], res["wins"], res["losses"], res["draws"]
        _add(cells.setdefault((a, b), _empty()), w, lo, d)
        _add(cells.setdefault((b, a), _empty()), lo, w, d)
        for label, c in (res.get("matchups") or {}).items():
            per = by_matchup.setdefault(label, {})
            _add(per.setdefault(a, _empty()), c["wins"], c["losses"], c["draws"])
            _add(per.setdefault(b, _empty()), c["losses"], c["wins"], c["draws"])
    return cells, by_matchup


def _mean_metric(results: list[JsonObject], run: str) -> float | None:
    values = [
        v
        for r in results
        if r.get("kind") == "evaluate" and r.get("run") == run
        for sides in r["per_game"].values()
        for v in sides
    ]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else None


def _round_robin(
    results: list[JsonObject], runs: list[str], games: Sequence[int], better: str
) -> tuple[list[JsonObject], JsonObject, JsonObject, int]:
    if any(r["kind"] == "slice" for r in results):
        cells, by_matchup = _cells_from_slices(results)
    else:
        cells, by_matchup = _cells_from_scores(_score_lists(results, runs, games, better)), {}
    rows, matrix = [], {}
    for r in runs:
        total = _empty()
        for o in runs:
            c = cells.get((r, o))
            if o != r and c:
                _add(total, int(c["wins"]), int(c["losses"]), int(c["draws"]), c["points"])
        rows.append({"run": r, "points": total["points"], **_public(total)})
        matrix[r] = {o: _public(cells.get((r, o)) or _empty()) for o in runs if o != r}
    matchups = {m: {r: _public(c) for r, c in per.items()} for m, per in by_matchup.items()}
    played = sum(int(c["games"]) for (a, b), c in cells.items() if a < b)
    return rows, matrix, matchups, played


def merge(
    results: list[JsonObject],
    runs: list[str],
    *,
    mode: str,
    metric: str,
    better: str,
    games: Sequence[int] | int,
    failed: Sequence[JsonObject] = (),
) -> JsonObject:
    """One results document: leaderboard, and for round-robin the matrix (and by matchup)."""
    means = {r: _mean_metric(results, r) for r in runs}
    indices = list(games) if isinstance(games, Sequence) else []
    matrix: JsonObject = {}
    by_matchup: JsonObject = {}
    played = 0
    if mode == "round-robin" and len(runs) > 1:
        rows, matrix, by_matchup, played = _round_robin(results, runs, indices, better)
        for row in rows:
            row["mean"] = means[row["run"]]
        sign = -1 if better == "max" else 1
        rows.sort(key=lambda x: (-x["points"], sign * (x["mean"] or 0), -(x["win_rate"] or 0)))
    else:
        rows = [{"run": r, "mean": means[r]} for r in runs]
        sign = -1 if better == "max" else 1
        rows.sort(key=lambda x: (x["mean"] is None, sign * (x["mean"] or 0)))
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    return {
        "mode": mode,
        "metric": metric,
        "better": better,
        "games": indices if isinstance(games, Sequence) else games,
        "matchups": played,
        "leaderboard": rows,
        "matrix": matrix,
        "by_matchup": by_matchup,
        "winner": rows[0]["run"] if rows and mode != "none" else None,
        "complete": not failed,
        "failed": list(failed),
    }


def costs(state: SweepState) -> JsonObject:
    """The cost of every job (each member, each validation job) and the total, in USD."""
    jobs: list[JsonObject] = [
        {"job": run, "kind": "member", "state": m.state, "seconds": m.seconds, "usd": m.cost_usd}
        for run, m in state.members.items()
    ]
    jobs += [
        {
            "job": job_id,
            "kind": "validation",
            "state": j.state,
            "seconds": j.seconds,
            "usd": j.cost_usd,
        }
        for job_id, j in state.validation.jobs.items()
    ]
    training = sum(j["usd"] or 0.0 for j in jobs if j["kind"] == "member")
    validation = sum(j["usd"] or 0.0 for j in jobs if j["kind"] == "validation")
    return {
        "total_usd": round(training + validation, 4),
        "training_usd": round(training, 4),
        "validation_usd": round(validation, 4),
        "jobs": jobs,
    }


def _failure(j: JobStatus) -> JsonObject:
    job = j.job
    return {
        "job_id": job.job_id,
        "a": job.a or job.run,
        "b": job.b,
        "matchups": list(job.matchups),
        "direction": job.direction if job.kind == "slice" else None,
        "error": j.error,
        "attempts": j.attempts,
    }


def merge_sweep(
    plan: SweepPlan, state: SweepState, jobs_dir: Path, *, validated: bool
) -> JsonObject:
    """The sweep's results document from the jobs that succeeded (failed ones are listed)."""
    v, jobs = plan.validation, state.validation.jobs
    done = [j for j in jobs if jobs[j].state == "done"]
    results = [json.loads((jobs_dir / f"{j}.json").read_text()) for j in done]
    runs = [r for r, m in state.members.items() if m.state == "finished"]
    merged = merge(
        results,
        runs,
        mode=v.mode if validated else "none",
        metric="win_rate" if v.user_program else v.metric,
        better="max" if v.user_program else v.better,
        games=v.games if v.user_program else (state.validation.games or []),
        failed=[_failure(j) for j in jobs.values() if j.state == "failed"],
    )
    merged["members"] = {
        r: {"state": m.state, "reason": m.reason, "best": m.best} for r, m in state.members.items()
    }
    merged["cost"] = costs(state)
    return merged


# -- the summary ----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def cell_rate(cell: Any) -> float | None:
    """A matrix cell's win rate (a record now; a bare number in files of older versions)."""
    return cell.get("win_rate") if isinstance(cell, dict) else cell


def _matrix_lines(results: JsonObject, runs: list[str]) -> list[str]:
    lines = [
        "",
        f"Games: {results['matchups']} (each pair, both directions). Row vs column: "
        "win rate (wins-draws-losses).",
        "",
        "| vs | " + " | ".join(runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for a in runs:
        cells = []
        for b in runs:
            c = (results["matrix"].get(a) or {}).get(b)
            record = f" ({c['wins']}-{c['draws']}-{c['losses']})" if isinstance(c, dict) else ""
            cells.append("-" if a == b else _pct(cell_rate(c)) + record)
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return lines


def _games_text(results: JsonObject) -> str:
    games = results["games"]
    if isinstance(games, list):
        return f"{len(games)} held-out games"
    return f"{games} games per matchup and direction"


def render(results: JsonObject, sweep: str) -> str:
    """The Markdown summary: leaderboard, the matrix, by matchup, and any failed slice."""
    metric = results["metric"]
    lines = [
        f"# Sweep {sweep}: {results['mode']} on {_games_text(results)}",
        "",
        f"Metric: `{metric}` ({'higher' if results['better'] == 'max' else 'lower'} is better). "
        f"Winner: **{results['winner']}**.",
        "",
    ]
    lb = results["leaderboard"]
    if results["mode"] == "round-robin" and results["matrix"]:
        lines += [
            "| rank | run | points | W | D | L | win rate | mean |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['rank']} | {r['run']} | {r['points']:g} | {r['wins']} | "
            f"{r.get('draws', r.get('ties', 0))} | {r['losses']} | {_pct(r['win_rate'])} | "
            f"{_num(r['mean'])} |"
            for r in lb
        ]
        lines += _matrix_lines(results, [r["run"] for r in lb])
    else:
        lines += ["| rank | run | mean |", "|---|---|---|"]
        lines += [f"| {r['rank']} | {r['run']} | {_num(r['mean'])} |" for r in lb]
    by_matchup = results.get("by_matchup") or {}
    if by_matchup:
        lines += ["", "By matchup (each run's win rate against every opponent):", ""]
    for label, per in sorted(by_matchup.items()):
        rates = ", ".join(f"{run} {_pct(c['win_rate'])}" for run, c in sorted(per.items()))
        lines.append(f"- {label}: {rates}")
    lines += _cost_lines(results.get("cost"))
    for f in results.get("failed") or []:
        lines += ["", f"**Failed slice** {f['job_id']} ({f['attempts']} attempts): {f['error']}"]
    return "\n".join(lines) + "\n"


def _cost_lines(cost: JsonObject | None) -> list[str]:
    if not cost:
        return []
    lines = [
        "",
        f"Cost: ${cost['total_usd']:,.4f} in all (training ${cost['training_usd']:,.4f}, "
        f"validation ${cost['validation_usd']:,.4f})",
        "",
    ]
    for j in cost["jobs"]:
        if j["kind"] == "member":
            lines.append(
                f"- {j['job']}: {j['state']}, {j['seconds'] or 0:.0f} s, ${j['usd'] or 0:,.4f}"
            )
    validation = [j for j in cost["jobs"] if j["kind"] == "validation"]
    if validation:
        seconds = sum(j["seconds"] or 0 for j in validation)
        lines.append(
            f"- validation: {len(validation)} jobs, {seconds:.0f} s, ${cost['validation_usd']:,.4f}"
        )
    return lines


# -- bringing it home -----------------------------------------------------------------------------


def save_locally(folder: Path, results: JsonObject, summary: str, plan: JsonObject) -> str:
    """<folder>/results.json, summary.txt, sweep.yaml (the file as started) and plan.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (folder / "summary.txt").write_text(summary)
    if plan.get("sweep_text"):
        (folder / "sweep.yaml").write_text(plan["sweep_text"])
    (folder / "plan.json").write_text(json.dumps(plan, indent=2, default=str) + "\n")
    return str(folder)


__all__ = ["cell_rate", "costs", "merge", "merge_sweep", "render", "save_locally"]
