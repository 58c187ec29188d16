"""Sweep validation: jobs that score checkpoints on held-out games, and the merge of their results.

A job is plain data, so it runs the same in a local worker process and in a Modal container:

    {"job_id", "kind": "evaluate", "run", "checkpoint", "data_path", "games": [...], "evaluate": None}
    {"job_id", "kind": "match", "a", "b", "checkpoint_a", "checkpoint_b", "data_path", "games", "match"}

`evaluate` jobs score one run on a chunk of games (they start as soon as that run finishes);
each yields, per game, the metric for each side (player 1 and player 2). Round-robin then
pairs every two runs on the same games, in both directions (each side), from those scores:
the higher score wins the matchup, equal scores tie. A user's `match(ckpt_a, ckpt_b, game,
side, data_dir) -> score of a in [0, 1]` plugs in instead for real head-to-head play.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from trainward.core.loader import load_object
from trainward.core.plugins import trainer_plugin
from trainward.errors import NotFound

TIE_EPS = 1e-9


def load_function(target: str) -> Callable[..., Any]:
    fn: Callable[..., Any] = load_object(target, what="validation function")
    return fn


def checkpoint_of(volume_root: Path, run: str) -> Path:
    """The run's best checkpoint, else its latest."""
    base = volume_root / "runs" / run / "checkpoints"
    for name in ("best.pt", "latest.pt"):
        if (base / name).is_file():
            return base / name
    raise NotFound(
        f"run '{run}' has no checkpoint to validate",
        hint="did it fail before its first checkpoint?",
    )


def _side_scores(entry: dict[str, Any], metric: str) -> list[float]:
    players = entry.get("players")
    if players:
        return [float(p[metric]) for p in players]
    return [float(entry[metric])] * 2


def run_job(job: dict[str, Any], volume_root: Path) -> dict[str, Any]:
    """Run one validation job against a mounted volume; returns its result document."""
    data_dir = volume_root / job["data_path"]
    if job["kind"] == "match":
        match = load_function(job["match"])
        scores = {
            f"{g}:{side}": float(
                match(
                    volume_root / job["checkpoint_a"],
                    volume_root / job["checkpoint_b"],
                    g,
                    side,
                    data_dir,
                )
            )
            for g in job["games"]
            for side in (0, 1)
        }
        return {
            "job_id": job["job_id"],
            "kind": "match",
            "a": job["a"],
            "b": job["b"],
            "scores": scores,
        }
    if job.get("evaluate"):
        evaluate = load_function(job["evaluate"])
    else:
        evaluate = trainer_plugin("builtin").evaluate
    result = evaluate(volume_root / job["checkpoint"], data_dir, games=job["games"])
    per_game = {str(e["game"]): _side_scores(e, job["metric"]) for e in result["per_game"].values()}
    return {"job_id": job["job_id"], "kind": "evaluate", "run": job["run"], "per_game": per_game}


def evaluate_jobs(
    run: str,
    checkpoint: str,
    games: Sequence[int],
    *,
    chunk: int,
    data_path: str,
    metric: str,
    evaluate: str | None,
) -> list[dict[str, Any]]:
    """One run's scoring, split into jobs of `chunk` games (parallel workers take one each)."""
    return [
        {
            "job_id": f"eval-{run}-{i}",
            "kind": "evaluate",
            "run": run,
            "checkpoint": checkpoint,
            "games": list(games[i : i + chunk]),
            "data_path": data_path,
            "metric": metric,
            "evaluate": evaluate,
        }
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
) -> list[dict[str, Any]]:
    return [
        {
            "job_id": f"match-{a}-{b}-{i}",
            "kind": "match",
            "a": a,
            "b": b,
            "checkpoint_a": ckpts[a],
            "checkpoint_b": ckpts[b],
            "games": list(games[i : i + chunk]),
            "data_path": data_path,
            "match": match,
        }
        for i in range(0, len(games), chunk)
    ]


def _better(x: float, y: float, better: str) -> int:
    """+1 if x beats y, -1 if y beats x, 0 for a tie (NaN loses)."""
    if (math.isnan(x) and math.isnan(y)) or abs(x - y) <= TIE_EPS:
        return 0
    if math.isnan(y) or (not math.isnan(x) and (x > y) == (better == "max")):
        return 1
    return -1


def _pair_outcomes(
    results: list[dict[str, Any]], runs: list[str], games: Sequence[int], better: str
) -> dict[tuple[str, str], list[float]]:
    """For each ordered pair (a, b), the score of a in each matchup (1 win, 0.5 tie, 0 loss)."""
    scores: dict[str, dict[str, list[float]]] = {r: {} for r in runs}
    direct: dict[tuple[str, str], list[float]] = {}
    for res in results:
        if res["kind"] == "evaluate":
            scores[res["run"]].update(res["per_game"])
        else:
            direct.setdefault((res["a"], res["b"]), []).extend(res["scores"].values())
    out: dict[tuple[str, str], list[float]] = {}
    for a, b in itertools.combinations(runs, 2):
        if (a, b) in direct:
            out[(a, b)] = direct[(a, b)]
        else:
            out[(a, b)] = [
                (1 + _better(scores[a][str(g)][s], scores[b][str(g)][s], better)) / 2
                for g in games
                if str(g) in scores[a] and str(g) in scores[b]
                for s in (0, 1)
            ]
        out[(b, a)] = [1 - x for x in out[(a, b)]]
    return out


def _mean_metric(results: list[dict[str, Any]], run: str) -> float | None:
    values = [
        v for r in results if r.get("run") == run for sides in r["per_game"].values() for v in sides
    ]
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else None


def merge(
    results: list[dict[str, Any]],
    runs: list[str],
    *,
    mode: str,
    metric: str,
    better: str,
    games: Sequence[int],
) -> dict[str, Any]:
    """One results document: leaderboard (and, for round-robin, the matchup matrix)."""
    means = {r: _mean_metric(results, r) for r in runs}
    rows: list[dict[str, Any]] = []
    matrix: dict[str, dict[str, float | None]] = {}
    matchups = 0
    if mode == "round-robin" and len(runs) > 1:
        outcomes = _pair_outcomes(results, runs, games, better)
        matchups = sum(len(v) for (a, b), v in outcomes.items() if a < b)
        for r in runs:
            mine = [x for (a, _), v in outcomes.items() if a == r for x in v]
            wins, ties = sum(1 for x in mine if x == 1), sum(1 for x in mine if x == 0.5)
            rows.append(
                {
                    "run": r,
                    "points": sum(mine),
                    "wins": wins,
                    "ties": ties,
                    "losses": len(mine) - wins - ties,
                    "win_rate": round(sum(mine) / len(mine), 4) if mine else None,
                    "mean": means[r],
                }
            )
            matrix[r] = {
                o: (
                    round(sum(outcomes[(r, o)]) / len(outcomes[(r, o)]), 4)
                    if outcomes[(r, o)]
                    else None
                )
                for o in runs
                if o != r
            }
        rows.sort(
            key=lambda x: (-x["points"], -(x["mean"] or 0) if better == "max" else (x["mean"] or 0))
        )
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
        "games": list(games),
        "matchups": matchups,
        "leaderboard": rows,
        "matrix": matrix,
        "winner": rows[0]["run"] if rows else None,
    }


def render(results: dict[str, Any], sweep: str) -> str:
    """The Markdown summary: leaderboard, then the matchup matrix (row's win rate vs column)."""
    lines = [
        f"# Sweep {sweep}: {results['mode']} on {len(results['games'])} held-out games",
        "",
        f"Metric: `{results['metric']}` ({'higher' if results['better'] == 'max' else 'lower'} is better). "
        f"Winner: **{results['winner']}**.",
        "",
    ]
    lb = results["leaderboard"]
    if results["mode"] == "round-robin" and results["matrix"]:
        lines += [
            "| rank | run | points | W | T | L | win rate | mean |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['rank']} | {r['run']} | {r['points']:g} | {r['wins']} | {r['ties']} | {r['losses']} | "
            f"{_pct(r['win_rate'])} | {_num(r['mean'])} |"
            for r in lb
        ]
        runs = [r["run"] for r in lb]
        lines += [
            "",
            f"Matchups: {results['matchups']} (each pair, both sides, every game).",
            "",
            "| vs | " + " | ".join(runs) + " |",
            "|---|" + "---|" * len(runs),
        ]
        for a in runs:
            cells = ["-" if a == b else _pct(results["matrix"][a].get(b)) for b in runs]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    else:
        lines += ["| rank | run | mean |", "|---|---|---|"]
        lines += [f"| {r['rank']} | {r['run']} | {_num(r['mean'])} |" for r in lb]
    return "\n".join(lines) + "\n"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


__all__ = ["evaluate_jobs", "match_jobs", "merge", "render", "run_job"]
