"""Re-pushing an unchanged dataset costs a small fraction of the first push; hashing vs sha256sum.

    .venv/bin/python bench/bench_datasync.py [--files 10000] [--mb 1024] [--tmp /tmp] [--json OUT]

Writes `--files` files of random bytes (`--mb` MiB in all) under a temp directory in `--tmp`,
with TRAINWARD_HOME in the same temp directory (so the local backend's volume and the hash
cache live there too), then times, in one process:

1. the first `datasync.push` to the local backend (cold hash cache: hash + copy + manifest);
2. re-pushes of the unchanged tree (median of 3): the claim is 0 bytes sent and < 5 % of (1);
3. a push after changing one file, for scale;
4. hashing throughput: `filetree.hash_tree` with an empty cache (default workers, and 1
   worker) against `sha256sum` over the same files (median of 3 runs each, interleaved).
   Both read from the page cache: the files were just written.

Everything is deleted at the end. Times are wall-clock on a shared machine: read the ratios.
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
from typing import Any


def write_dataset(root: Path, files: int, total: int) -> int:
    size = total // files
    written = 0
    for i in range(files):
        path = root / f"shard-{i // 1000:03d}" / f"sample-{i:06d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        written += size
    return written


def timed(fn: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def push(src: Path) -> Any:
    from trainward.backends.local import LocalBackend
    from trainward.data import sync as datasync

    return datasync.push(LocalBackend(), src, "bench", "datasets/bench")


def hash_cold(src: Path, scratch: Path, workers: int | None) -> float:
    from trainward.data.tree import HashCache, hash_tree

    db = scratch / "cold.sqlite3"
    db.unlink(missing_ok=True)
    with HashCache.open(db) as cache:
        seconds, _ = timed(lambda: hash_tree(src, cache=cache, workers=workers))
    return seconds


def sha256sum(src: Path) -> float:
    cmd = f"find {src} -type f -print0 | xargs -0 sha256sum > /dev/null"
    seconds, _ = timed(lambda: subprocess.run(cmd, shell=True, check=True))
    return seconds


def measure(src: Path, scratch: Path, nbytes: int) -> dict[str, Any]:
    first_s, first = timed(lambda: push(src))
    assert first.uploaded_bytes == nbytes, first.uploaded_bytes
    repeats = [timed(lambda: push(src)) for _ in range(3)]
    assert all(p.uploaded_bytes == 0 and p.up_to_date for _, p in repeats)
    again_s = statistics.median(s for s, _ in repeats)
    victim = next(src.rglob("*.bin"))
    victim.write_bytes(os.urandom(victim.stat().st_size))
    one_s, one = timed(lambda: push(src))
    assert one.uploaded_files == 1
    ours, single, base = [], [], []
    for _ in range(3):
        ours.append(hash_cold(src, scratch, None))
        single.append(hash_cold(src, scratch, 1))
        base.append(sha256sum(src))
    mbps = {
        k: nbytes / statistics.median(v) / 1e6
        for k, v in (("ours", ours), ("one_worker", single), ("sha256sum", base))
    }
    return {
        "files": first.files,
        "bytes": nbytes,
        "cpus": os.cpu_count(),
        "first_push_s": round(first_s, 3),
        "repush_s": round(again_s, 3),
        "repush_bytes_sent": max(p.uploaded_bytes for _, p in repeats),
        "repush_ratio": round(again_s / first_s, 4),
        "one_file_changed_s": round(one_s, 3),
        "hash_mb_per_s": {k: round(v, 1) for k, v in mbps.items()},
        "hash_vs_sha256sum": round(mbps["ours"] / mbps["sha256sum"], 3),
        "hash_one_worker_vs_sha256sum": round(mbps["one_worker"] / mbps["sha256sum"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--mb", type=int, default=1024, help="total MiB")
    parser.add_argument("--tmp", default="/tmp", help="where the temp directory goes")
    parser.add_argument("--json", dest="json_out", help="also write the results here")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tw-bench-datasync-", dir=args.tmp))
    os.environ["TRAINWARD_HOME"] = str(scratch / "home")
    try:
        src = scratch / "dataset"
        nbytes = write_dataset(src, args.files, args.mb << 20)
        time.sleep(0.2)  # past the racily-clean window
        res = measure(src, scratch, nbytes)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"dataset            {res['files']} files, {res['bytes'] / 1e9:.2f} GB, {res['cpus']} CPUs"
    )
    print(f"first push         {res['first_push_s']:.2f} s")
    print(
        f"re-push unchanged  {res['repush_s']:.3f} s, {res['repush_bytes_sent']} bytes sent, "
        f"ratio {res['repush_ratio']:.2%} (claim: < 5%)"
    )
    print(f"one file changed   {res['one_file_changed_s']:.3f} s")
    mb = res["hash_mb_per_s"]
    print(
        f"hashing            {mb['ours']:.0f} MB/s ({mb['one_worker']:.0f} MB/s on 1 worker); sha256sum {mb['sha256sum']:.0f} MB/s"
    )
    print(
        f"hash throughput vs sha256sum: {res['hash_vs_sha256sum']:.2f}x (1 worker: {res['hash_one_worker_vs_sha256sum']:.2f}x)"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(res, indent=2) + "\n")
    sys.exit(0 if res["repush_bytes_sent"] == 0 and res["repush_ratio"] < 0.05 else 1)


if __name__ == "__main__":
    main()
