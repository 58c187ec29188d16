"""What the guard hook costs per shell command: its process against bare Python start-up.

    .venv/bin/python bench/bench_hook.py [--rounds 40] [--json bench/results/hook.json]

Runs, interleaved round by round so that machine noise hits all alike, one process each of:
`python -c pass`, `python -c "import yaml"`, the hook command exactly as
`trainward skills install` writes it (a POSIX sh line running `python -P -m
trainward.guard.hook`), the same with a project guard.yaml to read, `trainward guard --hook`
(the CLI) and `trainward guard --json CMD`. Every process reads the same PreToolUse input (a
backgrounded `modal run`, answered "deny"). It prints, per process, the median and p95 of
the CPU time (user + sys, children included, from wait4) and of the wall time, and the
ratios to `python -c pass` and to `import yaml`; the claims checked are those of issues 16
and 21: hook CPU within 1.3x of `import yaml`, wall median under 100 ms, p95 under 200 ms.

The package is byte-compiled first, as an installed one is: with PYTHONDONTWRITEBYTECODE
set and no __pycache__, every run would compile the guard's sources again.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trainward
from trainward.guard.hookcommand import hook_command

REPO = Path(__file__).resolve().parent.parent
INPUT_COMMAND = "cd repo && nohup modal run train.py > train.log 2>&1 &"
INPUT = {
    "session_id": "bench",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": INPUT_COMMAND},
}
CPU_RATIO_MAX, WALL_MEDIAN_MAX_MS, WALL_P95_MAX_MS = 1.3, 100.0, 200.0


def cases(project: Path, with_policy: Path) -> dict[str, tuple[list[str], Path]]:
    """name -> (argv, working directory)."""
    py = sys.executable
    script = Path(py).parent / "trainward"
    cli = [str(script)] if script.is_file() else [py, "-m", "trainward"]
    hook = hook_command(py)
    return {
        "python -c pass": ([py, "-c", "pass"], project),
        'python -c "import yaml"': ([py, "-c", "import yaml"], project),
        "hook (installed command)": (["/bin/sh", "-c", hook], project),
        "hook, project guard.yaml": (["/bin/sh", "-c", hook], with_policy),
        "trainward guard --hook": ([*cli, "guard", "--hook"], project),
        "trainward guard --json CMD": ([*cli, "guard", "--json", INPUT_COMMAND], project),
    }


def run_once(argv: list[str], cwd: Path, stdin: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one process, its children included."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, str(stdin), os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
    ]
    env = {**os.environ, "CLAUDE_PROJECT_DIR": str(cwd)}
    os.chdir(cwd)  # the child starts where the parent is
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 3):
        raise SystemExit(f"{argv[:3]} failed with status {status}")
    return usage.ru_utime + usage.ru_stime, wall


def measure(table: dict[str, tuple[list[str], Path]], stdin: Path, rounds: int) -> dict:
    cpu: dict[str, list[float]] = {name: [] for name in table}
    wall: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(rounds):
        for name, (argv, cwd) in table.items():
            c, w = run_once(argv, cwd, stdin)
            cpu[name].append(c)
            wall[name].append(w)
    return {name: summarize(cpu[name], wall[name]) for name in table}


def summarize(cpu: list[float], wall: list[float]) -> dict[str, float]:
    def p95(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=20, method="inclusive")[-1]

    return {
        "cpu_ms_median": 1000 * statistics.median(cpu),
        "cpu_ms_p95": 1000 * p95(cpu),
        "wall_ms_median": 1000 * statistics.median(wall),
        "wall_ms_p95": 1000 * p95(wall),
    }


def report(results: dict[str, dict[str, float]], rounds: int) -> dict:
    base = results["python -c pass"]["cpu_ms_median"]
    yaml = results['python -c "import yaml"']["cpu_ms_median"]
    print(f"CPU (user+sys) and wall time per process; median [p95] of {rounds} interleaved runs")
    for name, r in results.items():
        r["x_pass"], r["x_yaml"] = r["cpu_ms_median"] / base, r["cpu_ms_median"] / yaml
        print(
            f"  {name:28} cpu {r['cpu_ms_median']:6.1f} ms [{r['cpu_ms_p95']:6.1f}]"
            f"  {r['x_pass']:5.2f}x pass  {r['x_yaml']:5.2f}x yaml"
            f"   wall {r['wall_ms_median']:6.1f} ms [{r['wall_ms_p95']:6.1f}]"
        )
    return claims(results["hook (installed command)"])


def claims(hook: dict[str, float]) -> dict[str, bool]:
    median, p95 = hook["wall_ms_median"], hook["wall_ms_p95"]
    checks = {
        f"hook CPU <= {CPU_RATIO_MAX}x import yaml": hook["x_yaml"] <= CPU_RATIO_MAX,
        f"hook wall median < {WALL_MEDIAN_MAX_MS:g} ms": median < WALL_MEDIAN_MAX_MS,
        f"hook wall p95 < {WALL_P95_MAX_MS:g} ms": p95 < WALL_P95_MAX_MS,
    }
    for claim, ok in checks.items():
        print(f"{'ok  ' if ok else 'MISS'} {claim}")
    return checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--json", dest="out", type=Path, default=REPO / "bench/results/hook.json")
    args = ap.parse_args()
    compileall.compile_dir(Path(trainward.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["TRAINWARD_HOME"] = str(root / "home")  # no user guard.yaml
        project, with_policy = root / "project", root / "with-policy"
        project.mkdir()
        (with_policy / ".trainward").mkdir(parents=True)
        (with_policy / ".trainward/guard.yaml").write_text(
            "rules:\n  - match: 'modal app stop ci-*'\n    decision: deny\n"
        )
        (root / "input.json").write_text(json.dumps(INPUT))
        results = measure(cases(project, with_policy), root / "input.json", args.rounds)
        os.chdir(REPO)
    checks = report(results, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"rounds": args.rounds, "python": sys.version.split()[0], "cpus": os.cpu_count()}
    args.out.write_text(json.dumps({**doc, "results": results, "claims": checks}, indent=2))
    print(f"wrote {args.out}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
