"""A validation program for sweep tests (the ticker's members): no game, just their skill.

    TRAINWARD_SLICE=... TRAINWARD_RESULT=... python -m tests.helpers.slices

Member a wins every game of the slice when its skill (read from its best.pt, a JSON blob the
ticker writes) is higher, loses when lower, draws when equal. For the failure tests:

    SLICE_CRASH=text    exit 1 in every slice whose id contains `text`
    SLICE_FLAKY=text    exit 1 the first time a slice whose id contains `text` runs
                        (a marker file in $SLICE_MARKERS remembers it)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def skill(side: dict) -> float:
    return float(json.loads(Path(side["artifacts"]["checkpoints/best.pt"]).read_text())["skill"])


def main() -> None:
    doc = json.loads(Path(os.environ["TRAINWARD_SLICE"]).read_text())
    name = doc["slice"]
    if os.environ.get("SLICE_CRASH") and os.environ["SLICE_CRASH"] in name:
        sys.exit(f"crashing on purpose in {name}")
    if os.environ.get("SLICE_FLAKY") and os.environ["SLICE_FLAKY"] in name:
        marker = Path(os.environ["SLICE_MARKERS"]) / name
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("crashed once")
            sys.exit(f"crashing once in {name}")
    a, b = skill(doc["a"]), skill(doc["b"])
    n = doc["games"]
    counts = {"wins": n * (a > b), "losses": n * (a < b), "draws": n * (a == b)}
    result = {
        **{k: v * len(doc["matchups"]) for k, v in counts.items()},
        "matchups": {m: counts for m in doc["matchups"]},
    }
    Path(os.environ["TRAINWARD_RESULT"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
