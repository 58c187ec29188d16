"""Status cost does not grow with the run: status of a 1,000,000-row ledger vs a 1,000-row one.

    .venv/bin/python bench/bench_status.py [--rows 1000000] [--repeat 30] [--json OUT]

Builds two local runs in a temp TRAINWARD_HOME, one whose metrics.jsonl holds `--rows` rows
and a baseline with 1,000, then times `StatusReader.read` on each, interleaved, and prints
the median times and their ratio (the claim: ~1.0). For scale it also times the naive
alternative, parsing the whole metrics history. Times are CPU wall-clock on a shared
machine: read the ratios; the absolute figures are indicative only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def build(home: Path, run: str, rows: int) -> None:
    from trainward.backends.local import LocalBackend
    from trainward.runs.ledger import LedgerWriter, run_path
    from trainward.runs.registry import LAUNCHED, Registry

    backend = LocalBackend(home)
    backend.ensure_volume("bench")
    run_dir = backend.volume_root("bench") / run_path(run)
    w = LedgerWriter.start(
        run_dir, {"name": run, "price_per_hour": 2.5, "targets": {"val_loss/total": "<0.5"}}
    )
    w.plan(epochs=10, steps_per_epoch=rows // 10 or 1)
    w.close()
    t0 = time.time()
    with open(run_dir / "metrics.jsonl", "w") as fh:  # 1M rows the fast way, same format as log()
        for i in range(rows):
            fh.write(
                f'{{"t":{t0 + i * 0.01:.2f},"step":{i},"attempt":1,"batch/loss":{1 / (i + 1):.6f},"batch/step":{i}}}\n'
            )
    w = LedgerWriter(run_dir)
    for e in range(1, 10):
        w.log_validation(
            e,
            {
                "val_loss/total": 1 / e,
                "val_metric/action_change_acc": 0.5 + e / 30,
                **{f"val_action/cat_{c}": 0.9 for c in ("movement", "attack", "defense")},
            },
            step=e * rows // 10,
        )
    w.log({"batch/loss": 0.1}, step=rows - 1, epoch=10, batch=rows // 10)
    w.close()
    reg = Registry(home / "runs.jsonl")
    reg.update(reg.claim({"run": run, "backend": "local", "volume": "bench"}), state=LAUNCHED)


def time_status(run: str) -> float:
    from trainward.backends.base import ReadOnly
    from trainward.backends.local import LocalBackend
    from trainward.runs.registry import Registry
    from trainward.runs.status import StatusReader

    t = time.perf_counter()
    s = StatusReader(Registry(), ReadOnly(LocalBackend())).read(run)
    assert s.progress["step"] is not None
    return time.perf_counter() - t


def time_cli(run: str) -> float:
    import subprocess

    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "trainward", "status", run, "--json"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t


def time_naive(home: Path, run: str) -> float:
    t = time.perf_counter()
    with open(home / "volumes" / "bench" / "runs" / run / "metrics.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    assert rows
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--json", dest="out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["TRAINWARD_HOME"] = str(home)
        build(home, "big", args.rows)
        build(home, "small", 1000)
        big, small = [], []
        for _ in range(args.repeat):  # interleaved, so noise hits both alike
            small.append(time_status("small"))
            big.append(time_status("big"))
        cli_big, cli_small = [], []
        for _ in range(5):
            cli_small.append(time_cli("small"))
            cli_big.append(time_cli("big"))
        naive = time_naive(home, "big")
        size = (home / "volumes/bench/runs/big/metrics.jsonl").stat().st_size
    res = {
        "rows": args.rows,
        "metrics_bytes": size,
        "repeat": args.repeat,
        "status_ms_big": round(1000 * statistics.median(big), 2),
        "status_ms_baseline_1000_rows": round(1000 * statistics.median(small), 2),
        "ratio_big_over_baseline": round(statistics.median(big) / statistics.median(small), 3),
        "cli_ms_big": round(1000 * statistics.median(cli_big), 1),
        "cli_ms_baseline": round(1000 * statistics.median(cli_small), 1),
        "naive_full_history_ms": round(1000 * naive, 1),
        "naive_over_status": round(naive / statistics.median(big), 1),
    }
    print(
        f"status, {args.rows:,}-row ledger ({size / 1e6:.0f} MB of metrics): {res['status_ms_big']} ms (median of {args.repeat})"
    )
    print(f"status, 1,000-row baseline, same run:   {res['status_ms_baseline_1000_rows']} ms")
    print(
        f"ratio big / baseline:                   {res['ratio_big_over_baseline']}  (1.0 = does not grow)"
    )
    print(
        f"whole CLI process (`trainward status --json`, incl. Python start-up): "
        f"{res['cli_ms_big']} ms vs {res['cli_ms_baseline']} ms baseline"
    )
    print(
        f"naive full-history parse:               {res['naive_full_history_ms']} ms ({res['naive_over_status']}x status)"
    )
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))
    sys.exit(0 if res["status_ms_big"] < 100 else 1)


if __name__ == "__main__":
    main()
