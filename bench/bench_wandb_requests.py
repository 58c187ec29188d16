"""Requests and bytes per W&B status check: trainward's reader against a naive full scan.

Run from the repository root:

    .venv/bin/python bench/bench_wandb_requests.py [--rows 1000,10000,100000] [--json bench/results/wandb_requests.json]

It starts the fake W&B server (tests/fakes/wandb_fake), seeds one run per size (a
validation every 1,000 steps), and drives the real wandb 0.31 client (through wandb-core)
in this process. For each size it measures, from the fake's request log:

- reader: `WandbReader.find("bench/runs", name)` on a reader that has already been used
  once (its one-time `Viewer` request, sent when `wandb.Api()` is built, is reported
  apart);
- naive: the same one-run lookup (`api.runs(..., per_page=1, lazy=False)`) followed by
  `list(run.scan_history(page_size=1000))`.

Bytes are HTTP body bytes, request plus response. Ratios are naive / reader.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lib")]

from tests.fakes.wandb_fake.client import FAKE_API_KEY, WandbFake  # noqa: E402

VAL_EVERY = 1_000


def measure(fake: WandbFake, action: Any) -> dict[str, Any]:
    fake.reset_requests()
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    log = [e for e in fake.requests() if e["op"] != "telemetry"]
    return {
        "requests": len(log),
        "bytes": sum(e["bytes_in"] + e["bytes_out"] for e in log),
        "seconds": round(seconds, 3),
        "ops": sorted({e["op"] for e in log}),
        "result": result,
    }


def naive_check(api: Any, name: str) -> int:
    api.flush()
    runs = api.runs(
        "bench/runs", filters={"display_name": name}, order="-created_at", per_page=1, lazy=False
    )
    run = next(iter(runs))
    return len(list(run.scan_history(page_size=1000)))


def bench(sizes: list[int]) -> dict[str, Any]:
    import wandb
    from trainward.tracking.wandb import WandbReader

    fake = WandbFake().start()
    try:
        os.environ.update(fake.env)
        for rows in sizes:
            fake.seed_run("bench", "runs", f"run-{rows}", rows=rows, val_every=VAL_EVERY)
        reader = WandbReader(base_url=fake.url, api_key=FAKE_API_KEY, timeout=60)
        first = measure(fake, lambda: reader.find("bench/runs", f"run-{sizes[0]}").requests)
        api = wandb.Api(overrides={"base_url": fake.url, "entity": "bench"}, timeout=120)
        out = []
        for rows in sizes:
            ours = measure(fake, lambda r=rows: len(reader.find("bench/runs", f"run-{r}").history))
            naive = measure(fake, lambda r=rows: naive_check(api, f"run-{r}"))
            out.append({"rows": rows, "reader": ours, "naive": naive})
        return {
            "viewer_once_per_reader": first["requests"] - out[0]["reader"]["requests"],
            "sizes": out,
        }
    finally:
        fake.stop()


def table(results: dict[str, Any]) -> str:
    head = f"{'rows':>8} | {'reader req':>10} {'reader bytes':>12} | {'naive req':>9} {'naive bytes':>12} | {'req x':>6} {'bytes x':>8} | {'reader s':>8} {'naive s':>8}"
    lines = [head, "-" * len(head)]
    for s in results["sizes"]:
        r, n = s["reader"], s["naive"]
        lines.append(
            f"{s['rows']:>8} | {r['requests']:>10} {r['bytes']:>12,} | {n['requests']:>9} {n['bytes']:>12,} |"
            f" {n['requests'] / r['requests']:>6.1f} {n['bytes'] / r['bytes']:>8.1f} | {r['seconds']:>8.3f} {n['seconds']:>8.3f}"
        )
    lines.append(
        f"reader ops per check: {', '.join(results['sizes'][0]['reader']['ops'])};"
        f" plus {results['viewer_once_per_reader']} Viewer request once per reader (wandb.Api() verifies the key)"
    )
    lines.append(f"naive ops: {', '.join(results['sizes'][-1]['naive']['ops'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", default="1000,10000,100000", help="comma-separated run lengths")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = bench([int(x) for x in args.rows.split(",")])
    print(table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
