"""The tuner's round-robin validation: parallel workers against `--sequential`, in the same run.

    .venv/bin/python bench/bench_sweep_roundrobin.py [--repeat 3] [--workers 4] [--json OUT]

Trains the four members of examples/tuner once (`--mode train-only`, the file's small
settings) in a scratch project and TRAINWARD_HOME, then re-validates the same weights with
`--mode validate-only` (36 slices: 6 pairs x 3 faction pairs x 2 directions, one process
each), alternating `--sequential` (one worker) and `--workers` parallel workers, `--repeat`
times each. The time of a validation is the span from its first slice's start to its last
slice's end, as the controller recorded them (controller start-up excluded). The controller
polls every 0.1 s here (TRAINWARD_SWEEP_POLL_S) so the poll interval does not round the
times. The load average is recorded before and after every run; when the machine was busy
(load above its CPU count) the pair is run again, up to `--retries` times, and the report
says which runs were busy. It prints the median times, the speedup and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POLL_S = "0.1"


def tw(env: dict[str, str], *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "trainward", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(out.stdout)


def wait_done(env: dict[str, str], plan_id: str) -> dict:
    """Until the controller of this start (not an earlier one) has finished."""
    while True:
        doc = tw(env, "status", "tuner")
        if doc["plan_id"] == plan_id and doc["state"] in ("done", "failed"):
            return doc
        time.sleep(0.5)


def validation_span(home: Path) -> float:
    state = json.loads((home / "volumes/trainward/sweeps/tuner/state.json").read_text())
    jobs = state["validation"]["jobs"].values()
    return max(j["ended_at"] for j in jobs) - min(j["started_at"] for j in jobs)


def validate(env: dict[str, str], cfg: Path, home: Path, extra: list[str]) -> dict:
    load_before = os.getloadavg()[0]
    started = tw(env, "sweep", str(cfg), "--mode", "validate-only", "--no-deploy", *extra)
    doc = wait_done(env, started["plan_id"])
    assert doc["validation"]["done"] == doc["validation"]["total"] == 36, doc["validation"]
    return {"s": validation_span(home), "load": [load_before, os.getloadavg()[0]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--retries", type=int, default=2, help="reruns of a pair measured while busy")
    ap.add_argument("--json", dest="out")
    args = ap.parse_args()
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        project, home = Path(tmp) / "proj", Path(tmp) / "home"
        shutil.copytree(REPO / "examples" / "tuner", project / "examples" / "tuner")
        (project / "pyproject.toml").write_text("[project]\nname = 'bench'\n")
        cfg = project / "examples" / "tuner" / "sweep.yaml"
        env = {**os.environ, "TRAINWARD_HOME": str(home), "TRAINWARD_SWEEP_POLL_S": POLL_S,
               "PYTHONPATH": str(REPO / "lib")}  # fmt: skip
        started = tw(env, "sweep", str(cfg), "--mode", "train-only", "--no-deploy")
        wait_done(env, started["plan_id"])
        parallel = ["--set", f"validation.workers={args.workers}"]
        runs: dict[str, list[dict]] = {"sequential": [], "parallel": []}
        for _ in range(args.repeat):
            for attempt in range(args.retries + 1):
                seq = validate(env, cfg, home, ["--sequential"])
                par = validate(env, cfg, home, parallel)
                busy = max(seq["load"] + par["load"]) > cpus
                seq["busy"] = par["busy"] = busy
                if not busy or attempt == args.retries:
                    break
            runs["sequential"].append(seq)
            runs["parallel"].append(par)
    t_seq = statistics.median(r["s"] for r in runs["sequential"])
    t_par = statistics.median(r["s"] for r in runs["parallel"])
    res = {
        "command": "python bench/bench_sweep_roundrobin.py " + " ".join(sys.argv[1:]),
        "slices": 36,
        "workers": args.workers,
        "sequential_s": round(t_seq, 2),
        "parallel_s": round(t_par, 2),
        "speedup": round(t_seq / t_par, 2),
        "cpus": cpus,
        "runs": runs,
    }
    print(f"36 validation slices of examples/tuner, {cpus} CPUs")
    print(f"--sequential: {t_seq:.2f} s   {args.workers} workers: {t_par:.2f} s   "
          f"speedup {t_seq / t_par:.2f}x")  # fmt: skip
    loads = [x for kind in runs.values() for r in kind for x in r["load"]]
    busy = sum(r["busy"] for kind in runs.values() for r in kind)
    print(f"load average (1 min) from {min(loads):.2f} to {max(loads):.2f}; busy runs: {busy}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
